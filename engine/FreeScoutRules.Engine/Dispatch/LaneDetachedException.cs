namespace FreeScoutRules.Engine.Dispatch;

/// <summary>
/// A lane's evaluation returned after the watchdog abandoned it and gave its conversation to a new lane: the old lane
/// ends without committing anything (the new one parks the delivery and goes on).
/// </summary>
internal sealed class LaneDetachedException(int conversationId)
    : Exception($"The evaluation was abandoned and conversation {conversationId} went on in another lane; this one commits nothing.");
