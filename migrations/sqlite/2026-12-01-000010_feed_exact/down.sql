ALTER TABLE session_attendance DROP COLUMN deleted_at;
ALTER TABLE sync_removals DROP COLUMN version;
ALTER TABLE sync_removals DROP COLUMN to_commune_code;
