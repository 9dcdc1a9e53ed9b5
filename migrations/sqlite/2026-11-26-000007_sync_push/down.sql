DROP TABLE sync_conflicts;
DROP TABLE sync_ops;
