-- Trainees, enrollments with their completion and verification, attendance, national
-- platform certificates, and the access log of reads of personal data.
-- Personal ID numbers are never stored: only a keyed hash (for duplicate detection) and
-- the last four digits. Ethnicity is stored only with its own consent.

CREATE TABLE trainees (
    id TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP,
    change_seq BIGINT NOT NULL,
    create_digest TEXT NOT NULL,
    commune_code TEXT NOT NULL REFERENCES units (code),
    hamlet_id TEXT REFERENCES hamlets (id),
    full_name TEXT NOT NULL,
    search_name TEXT NOT NULL,
    gender TEXT NOT NULL,
    birth_year INTEGER NOT NULL,
    phone TEXT,
    id_hash TEXT,
    id_last4 TEXT,
    ethnicity_code TEXT,
    target_groups TEXT NOT NULL,
    occupation TEXT,
    consent_basic BOOLEAN NOT NULL,
    consent_ethnicity BOOLEAN NOT NULL,
    consent_method TEXT NOT NULL,
    consent_at TIMESTAMP NOT NULL,
    consent_by TEXT,
    merged_into TEXT,
    erased_at TIMESTAMP
);
CREATE INDEX trainees_commune_idx ON trainees (commune_code, search_name, id);
CREATE INDEX trainees_id_hash_idx ON trainees (id_hash);
CREATE INDEX trainees_dup_idx ON trainees (commune_code, birth_year, search_name);
CREATE INDEX trainees_seq_idx ON trainees (change_seq);

CREATE TABLE enrollments (
    id TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP,
    change_seq BIGINT NOT NULL,
    create_digest TEXT NOT NULL,
    class_id TEXT NOT NULL REFERENCES classes (id),
    trainee_id TEXT NOT NULL REFERENCES trainees (id),
    commune_code TEXT NOT NULL REFERENCES units (code),
    status TEXT NOT NULL,
    drop_reason TEXT,
    completion_result TEXT,
    completion_evidence TEXT,
    completed_on DATE,
    score DOUBLE PRECISION,
    certificate_ref TEXT,
    attendance_override_reason TEXT,
    completion_recorded_by TEXT,
    verification TEXT,
    verification_reason TEXT,
    verified_by TEXT,
    verified_at TIMESTAMP
);
CREATE INDEX enrollments_class_idx ON enrollments (class_id, trainee_id);
CREATE INDEX enrollments_trainee_idx ON enrollments (trainee_id);
CREATE INDEX enrollments_seq_idx ON enrollments (change_seq);

-- The attendance list of one session is one synchronised record (id = session id).
CREATE TABLE session_attendance (
    session_id TEXT PRIMARY KEY NOT NULL REFERENCES class_sessions (id),
    version BIGINT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    change_seq BIGINT NOT NULL,
    class_id TEXT NOT NULL REFERENCES classes (id),
    commune_code TEXT NOT NULL REFERENCES units (code)
);
CREATE INDEX session_attendance_seq_idx ON session_attendance (change_seq);

CREATE TABLE attendance_marks (
    session_id TEXT NOT NULL REFERENCES class_sessions (id),
    trainee_id TEXT NOT NULL REFERENCES trainees (id),
    class_id TEXT NOT NULL REFERENCES classes (id),
    PRIMARY KEY (session_id, trainee_id)
);
CREATE INDEX attendance_marks_trainee_idx ON attendance_marks (class_id, trainee_id);

CREATE TABLE platform_certificates (
    id TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP,
    change_seq BIGINT NOT NULL,
    create_digest TEXT NOT NULL,
    trainee_id TEXT NOT NULL REFERENCES trainees (id),
    commune_code TEXT NOT NULL REFERENCES units (code),
    certificate_ref TEXT NOT NULL,
    course TEXT NOT NULL,
    issued_on DATE NOT NULL
);
CREATE INDEX platform_certificates_trainee_idx ON platform_certificates (trainee_id);

CREATE TABLE access_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    at TIMESTAMP NOT NULL,
    actor_id TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT,
    row_count INTEGER NOT NULL,
    request_id TEXT
);
CREATE INDEX access_log_entity_idx ON access_log (entity_id, id);
