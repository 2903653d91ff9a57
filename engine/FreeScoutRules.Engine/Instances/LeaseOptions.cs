namespace FreeScoutRules.Engine.Instances;

/// <summary>
/// Settings of the named leases of singleton work (<c>Leases:*</c>; docs/design.md, "Claims and fences"): reconciliation
/// and retention run only in the instance that holds their lease.
/// </summary>
internal sealed class LeaseOptions
{
    public const string Section = "Leases";

    /// <summary>
    /// How long a named lease lasts unless its holder renews it (every quarter of it, whatever its work does). A holder
    /// that stops (a crash, a kill) frees its leases sooner, when its instance lease ends (<c>Dispatch:LeaseTime</c>); this
    /// one matters when the process lives on but its loop cannot renew (the store unreachable): it stops its work at the
    /// lease's end, before another instance may take it. Default 30 s.
    /// </summary>
    public TimeSpan Time { get; set; } = TimeSpan.FromSeconds(30);
}
