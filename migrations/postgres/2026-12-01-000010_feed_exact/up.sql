-- The delta feed, exact (issue #12).
-- A removal names where the record went (a scope that holds both communes gets the update,
-- never a removal) and the record's version after the move.
ALTER TABLE sync_removals ADD COLUMN to_commune_code TEXT;
ALTER TABLE sync_removals ADD COLUMN version BIGINT NOT NULL DEFAULT 0;

-- A session's attendance list is deleted with the session (a tombstone in the feed).
ALTER TABLE session_attendance ADD COLUMN deleted_at TIMESTAMP(6);

-- Attendance lists of sessions deleted before this change become tombstones, each with a
-- change number of its own after every existing one, so that phones drop them.
UPDATE session_attendance
SET deleted_at = (SELECT s.deleted_at FROM class_sessions s WHERE s.id = session_attendance.session_id),
    version = version + 1,
    change_seq = (SELECT value FROM change_counter WHERE id = 1)
        + (SELECT COUNT(*) FROM session_attendance a2 JOIN class_sessions s2 ON s2.id = a2.session_id
           WHERE s2.deleted_at IS NOT NULL AND a2.session_id <= session_attendance.session_id)
WHERE session_id IN (SELECT id FROM class_sessions WHERE deleted_at IS NOT NULL);
UPDATE change_counter SET value = value + (SELECT COUNT(*) FROM session_attendance WHERE deleted_at IS NOT NULL) WHERE id = 1;
