-- Teams and classes: hamlets, topics, community digital technology teams and their
-- members, classes with their topics and instructors, and class sessions.
-- Every record the field app creates or edits carries the base columns: id (UUID text),
-- version, created_at, updated_at, deleted_at (tombstone), change_seq, and create_digest
-- (SHA-256 of the create request, so a replayed create is recognised).

CREATE TABLE hamlets (
    id TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP,
    change_seq BIGINT NOT NULL,
    create_digest TEXT NOT NULL,
    commune_code TEXT NOT NULL REFERENCES units (code),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    search_name TEXT NOT NULL
);
CREATE INDEX hamlets_commune_idx ON hamlets (commune_code, search_name, id);
CREATE INDEX hamlets_seq_idx ON hamlets (change_seq);

CREATE TABLE topics (
    id TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    retired_at TIMESTAMP,
    change_seq BIGINT NOT NULL,
    name_vi TEXT NOT NULL,
    name_en TEXT NOT NULL
);

CREATE TABLE teams (
    id TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP,
    change_seq BIGINT NOT NULL,
    create_digest TEXT NOT NULL,
    commune_code TEXT NOT NULL REFERENCES units (code),
    hamlet_id TEXT REFERENCES hamlets (id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    level TEXT NOT NULL,
    decision_number TEXT,
    decision_date DATE,
    active BOOLEAN NOT NULL
);
CREATE INDEX teams_commune_idx ON teams (commune_code, name, id);
CREATE INDEX teams_seq_idx ON teams (change_seq);

CREATE TABLE team_members (
    id TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP,
    change_seq BIGINT NOT NULL,
    create_digest TEXT NOT NULL,
    team_id TEXT NOT NULL REFERENCES teams (id),
    commune_code TEXT NOT NULL REFERENCES units (code),
    full_name TEXT NOT NULL,
    phone TEXT,
    role TEXT NOT NULL,
    affiliation TEXT NOT NULL,
    joined_on DATE,
    left_on DATE,
    user_id TEXT REFERENCES users (id)
);
CREATE INDEX team_members_team_idx ON team_members (team_id, full_name, id);
CREATE INDEX team_members_commune_idx ON team_members (commune_code);
CREATE INDEX team_members_user_idx ON team_members (user_id);
CREATE INDEX team_members_seq_idx ON team_members (change_seq);

CREATE TABLE classes (
    id TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP,
    change_seq BIGINT NOT NULL,
    create_digest TEXT NOT NULL,
    commune_code TEXT NOT NULL REFERENCES units (code),
    hamlet_id TEXT REFERENCES hamlets (id),
    team_id TEXT NOT NULL REFERENCES teams (id),
    title TEXT NOT NULL,
    mode TEXT NOT NULL,
    language TEXT NOT NULL,
    interpreter_used BOOLEAN NOT NULL,
    venue TEXT,
    start_date DATE NOT NULL,
    end_date DATE NOT NULL,
    planned_sessions INTEGER NOT NULL,
    campaign TEXT,
    status TEXT NOT NULL,
    cancel_reason TEXT,
    min_attendance_ratio DOUBLE PRECISION NOT NULL
);
CREATE INDEX classes_commune_idx ON classes (commune_code, start_date, id);
CREATE INDEX classes_team_idx ON classes (team_id);
CREATE INDEX classes_seq_idx ON classes (change_seq);

CREATE TABLE class_topics (
    class_id TEXT NOT NULL REFERENCES classes (id),
    topic_id TEXT NOT NULL REFERENCES topics (id),
    PRIMARY KEY (class_id, topic_id)
);
CREATE INDEX class_topics_topic_idx ON class_topics (topic_id);

CREATE TABLE class_instructors (
    class_id TEXT NOT NULL REFERENCES classes (id),
    member_id TEXT NOT NULL REFERENCES team_members (id),
    PRIMARY KEY (class_id, member_id)
);

CREATE TABLE class_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP,
    change_seq BIGINT NOT NULL,
    create_digest TEXT NOT NULL,
    class_id TEXT NOT NULL REFERENCES classes (id),
    commune_code TEXT NOT NULL REFERENCES units (code),
    held_on DATE NOT NULL,
    duration_minutes INTEGER NOT NULL,
    topic_ids TEXT NOT NULL,
    notes TEXT
);
CREATE INDEX class_sessions_class_idx ON class_sessions (class_id, held_on, id);
CREATE INDEX class_sessions_seq_idx ON class_sessions (change_seq);

CREATE INDEX audit_log_commune_idx ON audit_log (commune_code, id);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, id);
