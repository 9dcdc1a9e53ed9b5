-- A session's attendance marks, stored together (issue #16). An attendance list replaces
-- the session's marks: the old ones are deleted, the new ones inserted. In a rowid table
-- a session's marks lay wherever each was written, so replacing 46 lists in a push
-- rewrote about 250 pages of the table and of its primary-key index, a quarter of the
-- push's commit. Keyed by (session, trainee) with no rowid, a session's marks share a
-- page or two, and the separate primary-key index is gone.
-- The mark's class is a copy of its session's (checked by the session's own key), so it
-- loses its foreign key here as it did on PostgreSQL in the migration before.
CREATE TABLE attendance_marks_by_session (
    session_id TEXT NOT NULL REFERENCES class_sessions (id),
    trainee_id TEXT NOT NULL REFERENCES trainees (id),
    class_id TEXT NOT NULL,
    PRIMARY KEY (session_id, trainee_id)
) WITHOUT ROWID;
INSERT INTO attendance_marks_by_session (session_id, trainee_id, class_id)
    SELECT session_id, trainee_id, class_id FROM attendance_marks;
DROP TABLE attendance_marks;
ALTER TABLE attendance_marks_by_session RENAME TO attendance_marks;
CREATE INDEX attendance_marks_trainee_idx ON attendance_marks (class_id, trainee_id);
