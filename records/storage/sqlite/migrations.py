"""Versioned schema migrations of the embedded SQLite store.

Each migration runs once, in its own transaction, and is recorded in ``schema_migrations``.
Never edit a published migration: append a new one.

Records are stored whole as a JSON document (their ``StoredRecord`` form: protected fields
sealed) (the same shape a MongoDB collection holds); the
columns beside it copy the fields that list filters use, so every filter is an indexed lookup.
"""

from __future__ import annotations

import sqlite3

from records.clock import to_text, utcnow

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "records, classification codes, reference counters, tokens, data keys",
        """
        CREATE TABLE records (
            id          TEXT PRIMARY KEY,
            kind        TEXT NOT NULL,
            reference   TEXT NOT NULL UNIQUE,
            status      TEXT NOT NULL,
            channel     TEXT NOT NULL,
            urgency     TEXT NOT NULL,
            owner       TEXT NOT NULL,
            created_at  TEXT NOT NULL,
            received_at TEXT NOT NULL,
            updated_at  TEXT NOT NULL,
            version     INTEGER NOT NULL,
            customer_phone_idx   TEXT,
            customer_account_idx TEXT,
            destroyed_at TEXT,
            doc         TEXT NOT NULL
        ) STRICT;
        CREATE INDEX records_by_phone ON records (customer_phone_idx, created_at DESC, id DESC);
        CREATE INDEX records_by_account ON records (customer_account_idx, created_at DESC, id DESC);
        CREATE INDEX records_by_created ON records (created_at DESC, id DESC);
        CREATE INDEX records_by_kind ON records (kind, created_at DESC, id DESC);
        CREATE INDEX records_by_status ON records (status, created_at DESC, id DESC);
        CREATE INDEX records_by_owner ON records (owner, created_at DESC, id DESC);
        CREATE INDEX records_by_channel ON records (channel, created_at DESC, id DESC);
        CREATE INDEX records_by_urgency ON records (urgency, created_at DESC, id DESC);
        CREATE INDEX records_by_received ON records (received_at);

        CREATE TABLE record_classification (
            code       TEXT NOT NULL,
            record_id  TEXT NOT NULL REFERENCES records(id) ON DELETE CASCADE,
            PRIMARY KEY (code, record_id)
        ) STRICT, WITHOUT ROWID;

        CREATE TABLE sequences (
            name  TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        ) STRICT;

        CREATE TABLE api_tokens (
            secret_hash TEXT PRIMARY KEY,
            name        TEXT NOT NULL,
            role        TEXT NOT NULL,
            created_at  TEXT NOT NULL,
            revoked_at  TEXT
        ) STRICT;
        CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens (name) WHERE revoked_at IS NULL;

        CREATE TABLE data_keys (
            record_id   TEXT PRIMARY KEY,
            key_version INTEGER NOT NULL,
            kek_id      TEXT NOT NULL,
            wrapped     BLOB NOT NULL,
            created_at  TEXT NOT NULL
        ) STRICT;
        CREATE INDEX data_keys_by_kek ON data_keys (kek_id, record_id);
        """,
    ),
    (
        2,
        "audit log: events, targets, Merkle nodes, checkpoints",
        """
        CREATE TABLE audit_events (
            seq        INTEGER PRIMARY KEY,
            at         TEXT NOT NULL,
            actor      TEXT,
            role       TEXT,
            action     TEXT NOT NULL,
            outcome    TEXT NOT NULL,
            request_id TEXT,
            canonical  BLOB NOT NULL
        ) STRICT;
        CREATE INDEX audit_by_at ON audit_events (at, seq);
        CREATE INDEX audit_by_actor ON audit_events (actor, seq);
        CREATE INDEX audit_by_role ON audit_events (role, seq);
        CREATE INDEX audit_by_action ON audit_events (action, seq);
        CREATE INDEX audit_by_outcome ON audit_events (outcome, seq);

        CREATE TABLE audit_targets (
            target TEXT NOT NULL,
            seq    INTEGER NOT NULL,
            PRIMARY KEY (target, seq)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX audit_targets_by_seq ON audit_targets (seq, target);

        CREATE TABLE audit_nodes (
            level INTEGER NOT NULL,
            idx   INTEGER NOT NULL,
            hash  BLOB NOT NULL,
            PRIMARY KEY (level, idx)
        ) STRICT, WITHOUT ROWID;

        CREATE TABLE audit_checkpoints (
            tree_size INTEGER PRIMARY KEY,
            root_hash TEXT NOT NULL,
            timestamp TEXT NOT NULL,
            key_id    TEXT NOT NULL,
            signature TEXT NOT NULL
        ) STRICT;
        """,
    ),
    (
        3,
        "metric columns and service-level deadlines",
        """
        ALTER TABLE records ADD COLUMN created_by TEXT;
        ALTER TABLE records ADD COLUMN complexity TEXT;
        ALTER TABLE records ADD COLUMN satisfaction INTEGER;
        ALTER TABLE records ADD COLUMN result_at TEXT;
        ALTER TABLE records ADD COLUMN archived_at TEXT;
        UPDATE records SET
            created_by = json_extract(doc, '$.created_by'),
            complexity = json_extract(doc, '$.complexity'),
            satisfaction = json_extract(doc, '$.feedback.satisfaction'),
            result_at = json_extract(doc, '$.result_at'),
            archived_at = json_extract(doc, '$.archived_at');
        CREATE INDEX records_by_kind_received ON records (kind, received_at);

        CREATE TABLE record_deadlines (
            record_id TEXT NOT NULL REFERENCES records(id) ON DELETE CASCADE,
            name      TEXT NOT NULL,
            due_at    TEXT NOT NULL,
            met_at    TEXT,
            breach_reported_at TEXT,
            PRIMARY KEY (record_id, name)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX deadlines_open ON record_deadlines (due_at) WHERE met_at IS NULL;
        CREATE INDEX deadlines_unreported ON record_deadlines (due_at) WHERE breach_reported_at IS NULL
        """,
    ),
    (
        4,
        "retention: schedules, assignments (indexed by retain-until), events, legal holds, disposition batches, tombstones, certificates",
        """
        CREATE TABLE retention_schedules (
            id         TEXT NOT NULL,
            version    INTEGER NOT NULL,
            name       TEXT NOT NULL,
            created_at TEXT NOT NULL,
            doc        TEXT NOT NULL,
            PRIMARY KEY (id, version)
        ) STRICT;
        CREATE INDEX retention_schedules_by_name ON retention_schedules (name, id);

        CREATE TABLE retention_assignments (
            record_id    TEXT PRIMARY KEY,
            schedule_id  TEXT,
            retain_until TEXT,
            batch_id     TEXT,
            disposed_at  TEXT,
            doc          TEXT NOT NULL
        ) STRICT;
        CREATE INDEX retention_due ON retention_assignments (retain_until, record_id)
            WHERE retain_until IS NOT NULL AND batch_id IS NULL AND disposed_at IS NULL;
        CREATE INDEX retention_by_schedule ON retention_assignments (schedule_id, record_id) WHERE disposed_at IS NULL;

        CREATE TABLE retention_events (
            name        TEXT NOT NULL,
            record_id   TEXT NOT NULL,
            occurred_at TEXT NOT NULL,
            PRIMARY KEY (name, record_id)
        ) STRICT, WITHOUT ROWID;

        CREATE TABLE legal_holds (
            id            TEXT PRIMARY KEY,
            placed_at     TEXT NOT NULL,
            released_at   TEXT,
            has_query     INTEGER NOT NULL,
            q_kind        TEXT,
            q_account_idx TEXT,
            q_phone_idx   TEXT,
            q_from        TEXT,
            q_to          TEXT,
            doc           TEXT NOT NULL
        ) STRICT;
        CREATE INDEX legal_holds_active_queries ON legal_holds (id) WHERE released_at IS NULL AND has_query = 1;

        CREATE TABLE legal_hold_items (
            record_id TEXT NOT NULL,
            hold_id   TEXT NOT NULL REFERENCES legal_holds(id),
            PRIMARY KEY (record_id, hold_id)
        ) STRICT, WITHOUT ROWID;

        CREATE TABLE disposition_batches (
            id         TEXT PRIMARY KEY,
            status     TEXT NOT NULL,
            created_at TEXT NOT NULL,
            doc        TEXT NOT NULL
        ) STRICT;
        CREATE INDEX disposition_batches_by_status ON disposition_batches (status, created_at);

        CREATE TABLE disposition_items (
            batch_id  TEXT NOT NULL REFERENCES disposition_batches(id),
            position  INTEGER NOT NULL,
            record_id TEXT NOT NULL,
            state     TEXT NOT NULL,
            doc       TEXT NOT NULL,
            PRIMARY KEY (batch_id, position)
        ) STRICT;
        CREATE UNIQUE INDEX disposition_items_by_record ON disposition_items (batch_id, record_id);

        CREATE TABLE tombstones (
            record_id TEXT PRIMARY KEY,
            batch_id  TEXT NOT NULL,
            doc       TEXT NOT NULL
        ) STRICT;
        CREATE INDEX tombstones_by_batch ON tombstones (batch_id);

        CREATE TABLE destruction_certificates (
            id        TEXT PRIMARY KEY,
            batch_id  TEXT NOT NULL UNIQUE,
            issued_at TEXT NOT NULL,
            doc       TEXT NOT NULL
        ) STRICT;
        """,
    ),
    (
        5,
        "installed plugins, disabled built-ins and the trust store of plugin publishers",
        """
        CREATE TABLE plugin_installs (
            name        TEXT PRIMARY KEY,
            doc         TEXT NOT NULL
        ) STRICT;
        CREATE TABLE plugin_disabled_builtins (
            name        TEXT PRIMARY KEY,
            disabled_at TEXT NOT NULL
        ) STRICT;
        CREATE TABLE plugin_trusted_keys (
            name        TEXT PRIMARY KEY,
            fingerprint TEXT NOT NULL UNIQUE,
            doc         TEXT NOT NULL
        ) STRICT
        """,
    ),
    (
        6,
        "classification rows by record",
        """
        -- Removing or pruning a record cascades into record_classification, whose key starts with
        -- the code: without this index each such delete scanned the whole table.
        CREATE INDEX record_classification_by_record ON record_classification (record_id)
        """,
    ),
    (
        7,
        "received_at index covers the page order",
        """
        -- A list over a received_at range is ordered newest filed first: with created_at and id in
        -- the index, choosing the page reads the index alone, not every record row in the range
        -- (bench/api.py: a month of a 1M-record store read ~160 MB of rows per page).
        CREATE INDEX records_by_received_created ON records (received_at, created_at DESC, id DESC);
        DROP INDEX records_by_received
        """,
    ),
    (
        8,
        "doomed data keys",
        """
        -- Set in the transaction that found no hold on the record: its destruction is decided, and
        -- a hold placed afterwards is told so instead of silently losing the race.
        ALTER TABLE data_keys ADD COLUMN doomed_at TEXT;
        -- Destructions under way: a hold by saved query checks them as it is placed.
        CREATE INDEX data_keys_doomed ON data_keys (record_id) WHERE doomed_at IS NOT NULL
        """,
    ),
    (
        9,
        "retention floors",
        """
        -- Legal minimum retention (records.retention.floors). A removed floor stays, with who removed
        -- it and why, and its key keeps a plugin's floor from being seeded again.
        CREATE TABLE retention_floors (
            id         TEXT PRIMARY KEY,
            key        TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            removed_at TEXT,
            doc        TEXT NOT NULL
        ) STRICT
        """,
    ),
    (
        10,
        "token names for life",
        """
        -- Every name ever given to a token: a revoked token's name is never reissued, so events and
        -- file ownership that name a token always mean one holder.
        CREATE TABLE token_names (
            name            TEXT PRIMARY KEY,
            first_issued_at TEXT NOT NULL
        ) STRICT;
        INSERT INTO token_names (name, first_issued_at) SELECT name, min(created_at) FROM api_tokens GROUP BY name
        """,
    ),
    (
        11,
        "delivery acceptance, service failures and outages for the SPEC §4.1 and §4.2 metrics",
        """
        -- Governance facts in clear, as the metrics' aggregates read them. Files written before
        -- this have none: their incidents were sealed whole, and they gain the columns on their
        -- next change.
        ALTER TABLE records ADD COLUMN service_failed INTEGER;
        ALTER TABLE records ADD COLUMN delivery_failures INTEGER;
        ALTER TABLE records ADD COLUMN delivery_accepted_at TEXT;
        ALTER TABLE records ADD COLUMN incident_started_at TEXT;
        ALTER TABLE records ADD COLUMN incident_ended_at TEXT;
        ALTER TABLE records ADD COLUMN incident_service TEXT;
        CREATE INDEX records_by_incident ON records (incident_started_at) WHERE incident_started_at IS NOT NULL
        """,
    ),
    (
        12,
        "console sessions",
        """
        -- Server-side sessions of the web console: id and token_hash are SHA-256 digests, so the
        -- database holds neither the cookie's secret nor the API token it was opened with.
        CREATE TABLE console_sessions (
            id           TEXT PRIMARY KEY,
            token_hash   TEXT NOT NULL,
            principal    TEXT NOT NULL,
            role         TEXT NOT NULL,
            csrf_token   TEXT NOT NULL,
            created_at   TEXT NOT NULL,
            last_seen_at TEXT NOT NULL
        ) STRICT;
        CREATE INDEX console_sessions_by_token ON console_sessions (token_hash);
        CREATE INDEX console_sessions_by_last_seen ON console_sessions (last_seen_at);
        CREATE INDEX console_sessions_by_created ON console_sessions (created_at)
        """,
    ),
    (
        13,
        "record lists from indexes alone",
        """
        -- Denormalised: each classification row carries its record's created_at and received_at
        -- (records.py keeps them equal), so that a list by code walks the code's rows newest first,
        -- or reads the code's rows in a received range, without probing a record per candidate: a
        -- code and a received month of a 1M-record store took 200 ms a page that way (bench/api.py).
        CREATE TABLE record_classification_new (
            code        TEXT NOT NULL,
            record_id   TEXT NOT NULL REFERENCES records(id) ON DELETE CASCADE,
            created_at  TEXT NOT NULL,
            received_at TEXT NOT NULL,
            PRIMARY KEY (code, record_id)
        ) STRICT, WITHOUT ROWID;
        INSERT INTO record_classification_new (code, record_id, created_at, received_at)
            SELECT c.code, c.record_id, r.created_at, r.received_at
            FROM record_classification c JOIN records r ON r.id = c.record_id;
        DROP TABLE record_classification;
        ALTER TABLE record_classification_new RENAME TO record_classification;
        CREATE INDEX record_classification_by_record ON record_classification (record_id);
        CREATE INDEX record_classification_by_code_created
            ON record_classification (code, created_at DESC, record_id DESC);
        CREATE INDEX record_classification_by_code_received
            ON record_classification (code, received_at, created_at DESC, record_id DESC);
        -- A kind over a received range: the page's order from the index entries, not from every
        -- row in the range (the metrics' kind and received_at lookups use the same prefix).
        CREATE INDEX records_by_kind_received_created ON records (kind, received_at, created_at DESC, id DESC);
        DROP INDEX records_by_kind_received;
        -- sla=breached: deadlines met late, from an index instead of a scan of every deadline.
        CREATE INDEX deadlines_met_late ON record_deadlines (record_id) WHERE met_at > due_at
        """,
    ),
    (
        14,
        "batch items answered by columns",
        """
        -- The batch page lists one page of a batch's items by decision, kind and reference, counts
        -- its decisions, and the reviews page lists the items waiting for one reviewer: from these
        -- columns (retention.py keeps them from records.retention.states), not by parsing every
        -- item's JSON (about 5 microseconds an item and a field, 50 ms for a 10,000-item batch).
        -- reviewers: a pending staged item's current reviewers, approved_by: who approved the step
        -- it waits on, each value between two char(31), so one name never matches part of another.
        ALTER TABLE disposition_items ADD COLUMN decision TEXT;
        ALTER TABLE disposition_items ADD COLUMN kind TEXT;
        ALTER TABLE disposition_items ADD COLUMN reference TEXT;
        ALTER TABLE disposition_items ADD COLUMN retain_until TEXT;
        ALTER TABLE disposition_items ADD COLUMN staged INTEGER;
        ALTER TABLE disposition_items ADD COLUMN approvals INTEGER;
        ALTER TABLE disposition_items ADD COLUMN reviewers TEXT;
        ALTER TABLE disposition_items ADD COLUMN approved_by TEXT;
        UPDATE disposition_items SET
            decision = json_extract(doc, '$.decision'), kind = json_extract(doc, '$.kind'),
            reference = json_extract(doc, '$.reference'),
            retain_until = strftime('%Y-%m-%dT%H:%M:%f', json_extract(doc, '$.retain_until')) || '000Z',
            staged = json_array_length(doc, '$.stages') > 0,
            approvals = json_array_length(doc, '$.approvers');
        UPDATE disposition_items SET
            reviewers = CASE WHEN staged AND decision = 'pending' THEN char(31) || coalesce((
                SELECT group_concat(v, char(31)) FROM (
                    SELECT 'role:' || value AS v FROM json_each(doc, '$.stages[' || json_extract(doc, '$.stage') || '].roles')
                    UNION ALL
                    SELECT 'user:' || value FROM json_each(doc, '$.stages[' || json_extract(doc, '$.stage') || '].users'))),
                '') || char(31) END,
            approved_by = char(31) || coalesce((SELECT group_concat(value, char(31)) FROM json_each(
                doc, CASE WHEN staged THEN '$.stage_approvers' ELSE '$.approvers' END)), '') || char(31);
        -- The reviews list: waiting items the earliest due first, across open batches.
        CREATE INDEX disposition_items_waiting ON disposition_items (retain_until, reference) WHERE state = 'waiting';
        -- A batch's counts, its filtered page's positions and what waits for a reviewer, read from
        -- index entries (about 60 bytes an item) instead of the rows and their documents.
        CREATE INDEX disposition_items_by_batch_columns ON disposition_items
            (batch_id, state, decision, staged, approvals, kind, reference, approved_by, reviewers, position)
        """,
    ),
]


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Apply pending migrations; returns the versions applied."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    known = max((v for v, _, _ in MIGRATIONS), default=0)
    if done and max(done) > known:
        from records.errors import InvalidConfiguration

        raise InvalidConfiguration(
            f"the data dir's schema is version {max(done)}, newer than this release understands ({known}); upgrade records"
        )
    applied = []
    for version, name, sql in MIGRATIONS:
        if version in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in filter(str.strip, sql.split(";")):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (version, name, to_text(utcnow())),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied
