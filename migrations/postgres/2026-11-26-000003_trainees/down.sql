DROP TABLE access_log;
DROP TABLE platform_certificates;
DROP TABLE attendance_marks;
DROP TABLE session_attendance;
DROP TABLE enrollments;
DROP TABLE trainees;
