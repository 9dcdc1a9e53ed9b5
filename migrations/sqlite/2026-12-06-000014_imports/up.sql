-- Roster imports (issue #15, docs/IMPORT.md): one row per uploaded file, dry runs included,
-- with the report the upload answered. A report holds row numbers, columns, codes and
-- record ids, never a person's name or number (erasure has nothing to chase in it).
CREATE TABLE imports (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    file_name TEXT NOT NULL,
    dry_run BOOLEAN NOT NULL,
    applied BOOLEAN NOT NULL,
    account_id TEXT NOT NULL REFERENCES users (id),
    commune_code TEXT,
    province_code TEXT,
    rows_read INTEGER NOT NULL,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    unchanged INTEGER NOT NULL,
    skipped INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    report TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX imports_account_idx ON imports (account_id, created_at);
