namespace FreeScoutRules.Engine.Storage;

/// <summary>
/// A running instance's lease (docs/design.md, "Claims and fences"): every claim it holds refers to it, so renewing
/// this one lease keeps them all. A new id every time a process joins.
/// </summary>
internal sealed record InstanceLease(long Id, string Name);

/// <summary>
/// A conversation claimed by an instance to evaluate its pending deliveries. <see cref="Epoch"/> fences every commit
/// under it: a claim by anyone else (a takeover once the holder's lease expired, or a claim after a release) advances
/// the conversation's epoch, and the commit of a claim whose epoch is no longer the conversation's is refused.
/// </summary>
internal sealed record ConversationClaim(int ConversationId, long InstanceId, long Epoch);

/// <summary>
/// An action intent claimed by an instance to attempt it. <see cref="Token"/> (random, new with every claim) fences the
/// record of the attempt: an intent whose holder's lease ended is due again and claimed by someone else with a new token
/// (the same idempotency key), and the record of an attempt under the old token is refused.
/// </summary>
internal sealed record IntentClaim(long IntentId, long InstanceId, string Token);

/// <summary>A named lease for singleton work (reconciliation, retention, gauge sampling): one holder at a time, its epoch fences the holder's writes.</summary>
internal sealed record NamedLease(string Name, long InstanceId, long Epoch, DateTimeOffset ExpiresAt);

/// <summary>An instance as the store knows it, for <c>/api/status</c>.</summary>
/// <remarks>Alive: its lease has not expired and it has not left.</remarks>
internal sealed record InstanceRecord(long Id, string Name, DateTimeOffset StartedAt, DateTimeOffset RenewedAt, DateTimeOffset ExpiresAt, DateTimeOffset? LeftAt, bool Alive)
{
    /// <summary>The rule generation in force in the instance (its content hash), as it last recorded it; <c>null</c> before it did.</summary>
    public string? RulesGeneration { get; init; }
}

/// <summary>
/// Storage refused a write because the claim (or lease) it was made under is lost: another holder took the work over
/// since. Nothing of the refused write was stored; the other holder's writes stand.
/// </summary>
internal sealed class ClaimLostException(string message) : InvalidOperationException(message);

/// <summary>
/// Instances and named leases, on the store's clock (the suite controls it with a <see cref="TimeProvider"/>). Thread-safe.
/// </summary>
internal interface ILeases
{
    /// <summary>
    /// Joins as a new instance with a lease of <paramref name="leaseTime"/>. (A store that knows some instances cannot be
    /// alive ends their leases when it opens: SQLite, whose data directory one process holds, ends every earlier one.)
    /// </summary>
    Task<InstanceLease> JoinAsync(string name, TimeSpan leaseTime, CancellationToken cancellationToken);

    /// <summary>Renews the instance's lease for <paramref name="leaseTime"/> from now. False when it left (nothing renewed).</summary>
    Task<bool> RenewAsync(InstanceLease instance, TimeSpan leaseTime, CancellationToken cancellationToken);

    /// <summary>
    /// Records the rule generation in force in the instance (its content hash), for <see cref="ListInstancesAsync"/>:
    /// during a rollout, instances run different generations at once, and people see which runs where.
    /// </summary>
    Task RecordRulesAsync(InstanceLease instance, string generation, CancellationToken cancellationToken);

    /// <summary>Leaves: the lease ends now, and with it every claim and named lease the instance holds.</summary>
    Task LeaveAsync(InstanceLease instance, CancellationToken cancellationToken);

    /// <summary>Instances seen since <paramref name="since"/> (alive or not), newest first.</summary>
    Task<IReadOnlyList<InstanceRecord>> ListInstancesAsync(DateTimeOffset since, CancellationToken cancellationToken);

    /// <summary>
    /// Takes (or renews, for its holder) the named lease for <paramref name="leaseTime"/>: when nobody holds it, its
    /// holder's instance lease expired, or it expired; a new holder advances its epoch. <c>null</c> when someone else holds it.
    /// </summary>
    Task<NamedLease?> TryAcquireAsync(string name, InstanceLease holder, TimeSpan leaseTime, CancellationToken cancellationToken);

    /// <summary>Gives a named lease up (nothing when it is no longer held under <paramref name="lease"/>'s epoch).</summary>
    Task ReleaseAsync(NamedLease lease, CancellationToken cancellationToken);

    /// <summary>Every named lease with its holder and expiry.</summary>
    Task<IReadOnlyList<NamedLease>> ListLeasesAsync(CancellationToken cancellationToken);
}
