DROP INDEX trainees_commune_seq_idx;
DROP INDEX enrollments_commune_seq_idx;
DROP INDEX session_attendance_commune_idx;
DROP TABLE sync_removals;
