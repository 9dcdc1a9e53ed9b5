-- PostgreSQL drops three foreign keys on copied columns here (see its migration). SQLite
-- keeps them: it cannot drop a constraint without rebuilding the table, and its checks are
-- index probes inside the process, not a query and a row lock each.
SELECT 1;
