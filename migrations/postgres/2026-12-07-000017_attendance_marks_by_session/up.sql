-- SQLite stores a session's attendance marks together here (see its migration). On
-- PostgreSQL the marks are a heap with a primary-key index on (session_id, trainee_id)
-- already: a session's marks are found by that index, and nothing changes.
SELECT 1;
