-- Operations of the batch push that were applied, by their client-made op_id: a re-sent
-- operation is answered `duplicate` with the original result and changes nothing. Kept
-- for the sync horizon (a phone that has not synced for longer must resync anyway).
CREATE TABLE sync_ops (
    op_id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES users (id),
    device_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    applied_at TIMESTAMP(6) NOT NULL
);
CREATE INDEX sync_ops_applied_idx ON sync_ops (applied_at);

-- Conflicts a device could not resolve, reported for the commune's officers.
CREATE TABLE sync_conflicts (
    id TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL,
    created_at TIMESTAMP(6) NOT NULL,
    updated_at TIMESTAMP(6) NOT NULL,
    create_digest TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES users (id),
    device_id TEXT NOT NULL,
    commune_code TEXT NOT NULL REFERENCES units (code),
    province_code TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    base_version BIGINT,
    server_version BIGINT,
    device_body TEXT NOT NULL,
    note TEXT,
    status TEXT NOT NULL,
    decision TEXT,
    resolution_note TEXT,
    resolved_by TEXT REFERENCES users (id),
    resolved_at TIMESTAMP(6),
    result_version BIGINT
);
CREATE INDEX sync_conflicts_commune_idx ON sync_conflicts (commune_code, status, created_at);
CREATE INDEX sync_conflicts_province_idx ON sync_conflicts (province_code, status, created_at);

-- The pull feed reads change numbers per commune first, then the rows of one page.
CREATE INDEX classes_commune_seq_idx ON classes (commune_code, change_seq);
CREATE INDEX class_sessions_commune_seq_idx ON class_sessions (commune_code, change_seq);
CREATE INDEX team_members_commune_seq_idx ON team_members (commune_code, change_seq);
