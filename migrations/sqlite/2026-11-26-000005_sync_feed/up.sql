-- Removals for the delta-sync feed: when a record moves out of a commune (a trainee moved
-- to another commune), the old commune's devices must be told to drop it.
CREATE TABLE sync_removals (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    change_seq BIGINT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    commune_code TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX sync_removals_seq_idx ON sync_removals (change_seq);
CREATE INDEX session_attendance_commune_idx ON session_attendance (commune_code, change_seq);
CREATE INDEX enrollments_commune_seq_idx ON enrollments (commune_code, change_seq);
CREATE INDEX trainees_commune_seq_idx ON trainees (commune_code, change_seq);
