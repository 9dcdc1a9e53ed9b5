DROP INDEX team_members_commune_seq_idx;
DROP INDEX class_sessions_commune_seq_idx;
DROP INDEX classes_commune_seq_idx;
DROP TABLE sync_conflicts;
DROP TABLE sync_ops;
