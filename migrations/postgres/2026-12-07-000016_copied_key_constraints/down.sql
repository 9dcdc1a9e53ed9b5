ALTER TABLE sync_ops ADD CONSTRAINT sync_ops_account_id_fkey FOREIGN KEY (account_id) REFERENCES users (id);
ALTER TABLE attendance_marks ADD CONSTRAINT attendance_marks_class_id_fkey FOREIGN KEY (class_id) REFERENCES classes (id);
ALTER TABLE enrollments ADD CONSTRAINT enrollments_commune_code_fkey FOREIGN KEY (commune_code) REFERENCES units (code);
