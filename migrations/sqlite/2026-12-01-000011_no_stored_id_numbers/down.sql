-- Nothing to undo: removed data cannot come back.
SELECT 1;
