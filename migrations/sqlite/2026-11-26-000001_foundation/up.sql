-- Foundation: reference data (provinces, commune-level units), accounts, sessions,
-- refresh tokens, throttling, reset codes, the audit log and the change counter.
-- Kept column-for-column identical to migrations/postgres (tests/schema_parity.rs checks it).
-- SQLite differences: TEXT for timestamps (diesel writes "YYYY-MM-DD HH:MM:SS.ffffff"),
-- INTEGER for booleans and 64-bit integers, AUTOINCREMENT instead of BIGSERIAL.

CREATE TABLE provinces (
    code TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE units (
    code TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    province_code TEXT NOT NULL REFERENCES provinces (code),
    search_name TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX units_province_idx ON units (province_code, code);

-- One row (id = 1). Every write transaction that changes a synchronised record takes the
-- next numbers from here; the row lock it takes serialises writers, so change numbers
-- become visible in commit order and a delta-sync reader never skips one.
CREATE TABLE change_counter (
    id INTEGER PRIMARY KEY NOT NULL,
    value BIGINT NOT NULL
);
INSERT INTO change_counter (id, value) VALUES (1, 0);

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL UNIQUE,
    full_name TEXT NOT NULL,
    phone TEXT,
    role TEXT NOT NULL,
    scope_kind TEXT NOT NULL,
    scope_code TEXT,
    password_hash TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    password_changed_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP,
    change_seq BIGINT NOT NULL
);
CREATE INDEX users_scope_idx ON users (scope_kind, scope_code);

-- A session is a refresh-token family: every access token names its session, and
-- revoking the session stops the access tokens and every refresh token in it at once.
CREATE TABLE auth_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    revoked_reason TEXT
);
CREATE INDEX auth_sessions_user_idx ON auth_sessions (user_id);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES auth_sessions (id),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

CREATE TABLE login_throttle (
    key TEXT PRIMARY KEY NOT NULL,
    failures INTEGER NOT NULL,
    window_started_at TIMESTAMP NOT NULL,
    blocked_until TIMESTAMP
);

CREATE TABLE reset_codes (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    code_hash TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX reset_codes_user_idx ON reset_codes (user_id);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    at TIMESTAMP NOT NULL,
    actor_id TEXT,
    actor_role TEXT,
    action TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    commune_code TEXT,
    province_code TEXT,
    request_id TEXT,
    changed_fields TEXT NOT NULL
);
CREATE INDEX audit_log_entity_idx ON audit_log (entity, entity_id);
CREATE INDEX audit_log_at_idx ON audit_log (at);
