-- Settings that give stored data its meaning, kept with the data: the time zone the
-- statistics counters count days in (a different one at start-up recounts them).
CREATE TABLE server_settings (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- Periodic reports are closed per scope: the country's, or one province's (issue #13). The
-- reports closed so far were the country's.
UPDATE report_facts SET report_key = 'n:' || report_key;
UPDATE report_snapshots SET report_key = 'n:' || report_key;
