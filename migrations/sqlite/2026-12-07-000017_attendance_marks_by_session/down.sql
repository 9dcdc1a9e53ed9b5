CREATE TABLE attendance_marks_by_row (
    session_id TEXT NOT NULL REFERENCES class_sessions (id),
    trainee_id TEXT NOT NULL REFERENCES trainees (id),
    class_id TEXT NOT NULL REFERENCES classes (id),
    PRIMARY KEY (session_id, trainee_id)
);
INSERT INTO attendance_marks_by_row (session_id, trainee_id, class_id)
    SELECT session_id, trainee_id, class_id FROM attendance_marks;
DROP TABLE attendance_marks;
ALTER TABLE attendance_marks_by_row RENAME TO attendance_marks;
CREATE INDEX attendance_marks_trainee_idx ON attendance_marks (class_id, trainee_id);
