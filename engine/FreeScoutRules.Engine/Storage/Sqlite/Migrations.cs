using Microsoft.Data.Sqlite;

namespace FreeScoutRules.Engine.Storage.Sqlite;

/// <summary>
/// Versioned schema migrations, tracked in SQLite's <c>PRAGMA user_version</c>. Each migration runs
/// once, in its own transaction, in order. Never edit a released migration: add the next one.
/// </summary>
internal static class Migrations
{
    /// <summary>Migration <c>i</c> takes the schema from version <c>i</c> to <c>i + 1</c>.</summary>
    private static readonly string[] Steps =
    [
        """
        CREATE TABLE deliveries (
            id               INTEGER PRIMARY KEY,
            event            TEXT    NOT NULL,
            body_sha256      BLOB    NOT NULL,
            conversation_id  INTEGER,
            seq              INTEGER,
            received_at      INTEGER NOT NULL,
            outcome          TEXT    NOT NULL,
            attempts         INTEGER NOT NULL DEFAULT 0,
            last_error       TEXT,
            processed_at     INTEGER,
            result           TEXT,
            UNIQUE (event, body_sha256)
        );
        CREATE INDEX ix_deliveries_conversation ON deliveries (conversation_id, seq);
        -- Bodies apart from the rows that processing updates, so an update never rewrites a body.
        CREATE TABLE delivery_bodies (
            delivery_id      INTEGER PRIMARY KEY REFERENCES deliveries (id),
            body             BLOB    NOT NULL
        );
        CREATE INDEX ix_deliveries_outcome ON deliveries (outcome, id);
        CREATE INDEX ix_deliveries_received ON deliveries (received_at);
        CREATE TABLE conversations (
            id                INTEGER PRIMARY KEY,
            last_applied_seq  INTEGER NOT NULL DEFAULT 0,
            status            TEXT,
            updated_at        INTEGER
        );
        CREATE TABLE status_changes (
            id               INTEGER PRIMARY KEY,
            delivery_id      INTEGER NOT NULL REFERENCES deliveries (id),
            conversation_id  INTEGER NOT NULL,
            number           INTEGER NOT NULL,
            from_status      TEXT,
            to_status        TEXT    NOT NULL,
            via              TEXT    NOT NULL,
            at               INTEGER NOT NULL
        );
        CREATE INDEX ix_status_changes_conversation ON status_changes (conversation_id, id);
        CREATE TABLE action_intents (
            id               INTEGER PRIMARY KEY,
            delivery_id      INTEGER NOT NULL REFERENCES deliveries (id),
            conversation_id  INTEGER NOT NULL,
            rule             TEXT    NOT NULL,
            action           TEXT    NOT NULL,
            arguments        TEXT    NOT NULL,
            state            TEXT    NOT NULL,
            created_at       INTEGER NOT NULL
        );
        CREATE INDEX ix_action_intents_state ON action_intents (state, id);
        """,
        """
        CREATE TABLE rule_generations (
            id               INTEGER PRIMARY KEY,
            content_hash     TEXT    NOT NULL,
            loaded_at        INTEGER NOT NULL,
            outcome          TEXT    NOT NULL,
            rules            INTEGER NOT NULL,
            diagnostics      TEXT
        );
        ALTER TABLE deliveries ADD COLUMN rules_generation TEXT;
        """,
        """
        ALTER TABLE action_intents ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE action_intents ADD COLUMN next_attempt_at INTEGER;
        ALTER TABLE action_intents ADD COLUMN last_error TEXT;
        ALTER TABLE action_intents ADD COLUMN completed_at INTEGER;
        CREATE INDEX ix_action_intents_due ON action_intents (state, next_attempt_at);
        CREATE TABLE action_attempts (
            id               INTEGER PRIMARY KEY,
            intent_id        INTEGER NOT NULL REFERENCES action_intents (id),
            attempt          INTEGER NOT NULL,
            started_at       INTEGER NOT NULL,
            duration_ms      REAL    NOT NULL,
            outcome          TEXT    NOT NULL,
            error            TEXT
        );
        CREATE INDEX ix_action_attempts_intent ON action_attempts (intent_id, attempt);
        """,
        """
        CREATE INDEX ix_action_intents_rule ON action_intents (conversation_id, rule, created_at);
        """,
        """
        ALTER TABLE deliveries ADD COLUMN rule_failures INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX ix_deliveries_rule_failures ON deliveries (id) WHERE rule_failures > 0;
        """,
        """
        -- Attempts keep counting across manual retries; the attempt limit counts from the last retry.
        ALTER TABLE action_intents ADD COLUMN retry_base INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE action_intents ADD COLUMN retried_at INTEGER;
        -- Order per conversation and action: is an earlier intent still pending?
        CREATE INDEX ix_action_intents_pending_order ON action_intents (conversation_id, action, id) WHERE state = 'pending';
        """,
        """
        -- Retention and a delivery's intents look intents up by delivery.
        CREATE INDEX ix_action_intents_delivery ON action_intents (delivery_id);
        CREATE INDEX ix_status_changes_delivery ON status_changes (delivery_id);
        """,
        """
        -- Issue 14: fewer pages written per delivery.
        -- Bodies are stored compressed ('deflate'); rows stored before keep encoding NULL, the bytes as received.
        ALTER TABLE delivery_bodies ADD COLUMN encoding TEXT;
        -- Nothing reads status changes by conversation (a delivery's result holds them): its index cost a random page per change.
        DROP INDEX ix_status_changes_conversation;
        -- The dedupe key moves from a table-wide unique index on the body's hash (a random page per delivery)
        -- into the conversation's index entries, which the insert writes anyway: the same event and body bytes
        -- always name the same conversation. Deliveries of no conversation keep a unique index of their own.
        -- SQLite drops a UNIQUE constraint only by rebuilding the table.
        CREATE TABLE deliveries_v8 (
            id               INTEGER PRIMARY KEY,
            event            TEXT    NOT NULL,
            body_sha256      BLOB    NOT NULL,
            conversation_id  INTEGER,
            seq              INTEGER,
            received_at      INTEGER NOT NULL,
            outcome          TEXT    NOT NULL,
            attempts         INTEGER NOT NULL DEFAULT 0,
            last_error       TEXT,
            processed_at     INTEGER,
            result           TEXT,
            rules_generation TEXT,
            rule_failures    INTEGER NOT NULL DEFAULT 0
        );
        INSERT INTO deliveries_v8 (id, event, body_sha256, conversation_id, seq, received_at, outcome, attempts, last_error, processed_at, result, rules_generation, rule_failures)
            SELECT id, event, body_sha256, conversation_id, seq, received_at, outcome, attempts, last_error, processed_at, result, rules_generation, rule_failures FROM deliveries;
        DROP TABLE deliveries;
        ALTER TABLE deliveries_v8 RENAME TO deliveries;
        CREATE INDEX ix_deliveries_conversation ON deliveries (conversation_id, seq, body_sha256);
        CREATE UNIQUE INDEX ux_deliveries_body_without_conversation ON deliveries (event, body_sha256) WHERE conversation_id IS NULL;
        CREATE INDEX ix_deliveries_outcome ON deliveries (outcome, id);
        CREATE INDEX ix_deliveries_received ON deliveries (received_at);
        CREATE INDEX ix_deliveries_rule_failures ON deliveries (id) WHERE rule_failures > 0;
        """,
        """
        -- Issue 11: timers rules schedule, one per conversation and name. number counts its schedulings,
        -- so that a firing can tell the timer it read from one scheduled again meanwhile.
        CREATE TABLE timers (
            conversation_id  INTEGER NOT NULL,
            name             TEXT    NOT NULL,
            number           INTEGER NOT NULL,
            due_at           INTEGER NOT NULL,
            state            TEXT    NOT NULL,
            rule             TEXT    NOT NULL,
            delivery_id      INTEGER,
            set_at           INTEGER NOT NULL,
            fired_at         INTEGER,
            PRIMARY KEY (conversation_id, name)
        ) WITHOUT ROWID;
        CREATE INDEX ix_timers_due ON timers (due_at) WHERE state = 'pending';
        """,
        """
        -- Reconciliation with FreeScout's REST API: one row, the updatedAt (ms) up to which every listed
        -- conversation was stored or found not newer, and when it last moved.
        CREATE TABLE reconciliation (
            id               INTEGER PRIMARY KEY CHECK (id = 1),
            watermark        INTEGER NOT NULL,
            advanced_at      INTEGER NOT NULL
        );
        """,
        """
        -- The console: status changes per hour by their time; deliveries of one event, newest first (a rare event
        -- would otherwise mean a walk through every delivery).
        CREATE INDEX ix_status_changes_at ON status_changes (at);
        CREATE INDEX ix_deliveries_event ON deliveries (event, id);
        -- The console finds a conversation by the number people see, which its status changes carry.
        CREATE INDEX ix_status_changes_number ON status_changes (number);
        """,
        """
        -- Issue 24: where the rule put secret references in an intent's arguments (NULL: none). The runner puts
        -- values only there. Intents recorded before hold 'legacy' when their arguments hold reference-shaped text:
        -- they resolve every such text, as they did.
        ALTER TABLE action_intents ADD COLUMN secret_places TEXT;
        UPDATE action_intents SET secret_places = 'legacy' WHERE instr(arguments, 'secret://') > 0;
        """,
        """
        -- Issue 20: independent destinations, and idempotency keys unique per installation (one self-contained step).
        -- The installation: a random id made with the database (or at this upgrade), part of every new intent's
        -- idempotency key ('fsr-<installation>-<intent id>'), so that two data directories never send the same key.
        CREATE TABLE installation (
            id               INTEGER PRIMARY KEY CHECK (id = 1),
            installation_id  TEXT    NOT NULL
        );
        INSERT INTO installation (id, installation_id) VALUES (1, lower(hex(randomblob(16))));
        -- The key an intent is sent with when it is not derived from the installation: the intents recorded before
        -- keep the one they may already have been sent with (an attempt cut short by a crash leaves no record).
        ALTER TABLE action_intents ADD COLUMN idempotency_key TEXT;
        -- Where an intent goes, as its plugin says (an http URL's origin); the action's name when the plugin names none.
        -- Order holds per conversation and destination.
        ALTER TABLE action_intents ADD COLUMN destination TEXT NOT NULL DEFAULT '';
        UPDATE action_intents SET destination = action, idempotency_key = 'fsr-intent-' || id;
        DROP INDEX ix_action_intents_pending_order;
        CREATE INDEX ix_action_intents_pending_order ON action_intents (conversation_id, destination, id) WHERE state = 'pending';
        """,
        """
        -- Issue 21: the store is the queue (docs/design.md, "Claims and fences").
        -- Instances: every serve process joins with a new id and renews its lease; the claims it holds refer to it, so
        -- renewing one row keeps them all. A lease that expired (or was left) frees its claims for a takeover.
        CREATE TABLE instances (
            id               INTEGER PRIMARY KEY,
            name             TEXT    NOT NULL,
            started_at       INTEGER NOT NULL,
            renewed_at       INTEGER NOT NULL,
            expires_at       INTEGER NOT NULL,
            left_at          INTEGER
        );
        -- A conversation's claim: the instance working it, and an epoch that every claim other than the holder's own
        -- advances (a takeover, or a claim after a release). Every commit checks it: a commit under a lost claim is refused.
        ALTER TABLE conversations ADD COLUMN claim_instance INTEGER;
        ALTER TABLE conversations ADD COLUMN claim_epoch INTEGER NOT NULL DEFAULT 0;
        -- The backlog by conversation: what claims look for and what a lane reads. Holds pending rows only.
        CREATE INDEX ix_deliveries_pending ON deliveries (conversation_id, seq) WHERE outcome = 'pending';
        -- Outbox claims: an intent being attempted is held with a token under its instance's lease.
        ALTER TABLE action_intents ADD COLUMN claim_instance INTEGER;
        ALTER TABLE action_intents ADD COLUMN claim_token TEXT;
        ALTER TABLE action_intents ADD COLUMN claimed_at INTEGER;
        -- Named leases: singleton work (reconciliation, retention, gauge sampling), one holder at a time; the epoch
        -- advances with every new holder and fences the holder's writes.
        CREATE TABLE leases (
            name             TEXT    PRIMARY KEY,
            instance_id      INTEGER NOT NULL,
            epoch            INTEGER NOT NULL,
            acquired_at      INTEGER NOT NULL,
            expires_at       INTEGER NOT NULL
        ) WITHOUT ROWID;
        """,
        """
        -- Issue 22: the rule generation in force in each instance (its content hash), recorded by the instance: during a
        -- rollout two generations run at once, and /api/status says which runs where.
        ALTER TABLE instances ADD COLUMN rules_generation TEXT;
        """,
    ];

    public static int LatestVersion => Steps.Length;

    /// <param name="connection">An open connection to the database.</param>
    /// <param name="cancellationToken">Stops between migrations.</param>
    /// <param name="upTo">The version to stop at (tests build older databases with it); the latest when <c>null</c>.</param>
    public static async Task ApplyAsync(SqliteConnection connection, CancellationToken cancellationToken, int? upTo = null)
    {
        var version = await CurrentVersionAsync(connection, cancellationToken);
        if (version > Steps.Length)
        {
            throw new InvalidOperationException(
                $"The database schema is version {version}, newer than this FreeScoutRules knows ({Steps.Length}). Use a newer release or another --data-dir.");
        }

        if (version >= (upTo ?? Steps.Length))
        {
            return;
        }

        // A migration may rebuild a table that others reference (SQLite's way to drop a constraint):
        // foreign keys are off while it runs (they cannot change inside a transaction) and checked before it commits.
        var foreignKeys = Convert.ToInt64(await ScalarAsync(connection, null, "PRAGMA foreign_keys;", cancellationToken), System.Globalization.CultureInfo.InvariantCulture);
        await SqliteDatabase.ExecuteAsync(connection, "PRAGMA foreign_keys = OFF;", cancellationToken);
        try
        {
            for (var step = version; step < (upTo ?? Steps.Length); step++)
            {
                await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
                await using (var command = connection.CreateCommand())
                {
                    command.Transaction = transaction;
                    command.CommandText = Steps[step] + $"\nPRAGMA user_version = {step + 1};";
                    await command.ExecuteNonQueryAsync(cancellationToken);
                }

                if (await ScalarAsync(connection, transaction, "PRAGMA foreign_key_check;", cancellationToken) is not null)
                {
                    throw new InvalidOperationException($"Schema migration {step + 1} would break a reference between tables; nothing of it was applied.");
                }

                await transaction.CommitAsync(cancellationToken);
            }
        }
        finally
        {
            await SqliteDatabase.ExecuteAsync(connection, $"PRAGMA foreign_keys = {foreignKeys};", CancellationToken.None);
        }
    }

    private static async Task<object?> ScalarAsync(SqliteConnection connection, SqliteTransaction? transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return await command.ExecuteScalarAsync(cancellationToken);
    }

    public static async Task<int> CurrentVersionAsync(SqliteConnection connection, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA user_version;";
        return Convert.ToInt32(await command.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture);
    }
}
