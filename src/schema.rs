//! Diesel table definitions shared by both backends. Written by hand (not `print-schema`)
//! because one definition must fit SQLite and PostgreSQL: 64-bit integers are `BigInt`
//! (SQLite's INTEGER is 64-bit), timestamps are UTC `Timestamp`, UUIDs are `Text`.

diesel::table! {
    provinces (code) {
        code -> Text,
        name -> Text,
        kind -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    units (code) {
        code -> Text,
        name -> Text,
        kind -> Text,
        province_code -> Text,
        search_name -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    change_counter (id) {
        id -> Integer,
        value -> BigInt,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        full_name -> Text,
        phone -> Nullable<Text>,
        role -> Text,
        scope_kind -> Text,
        scope_code -> Nullable<Text>,
        password_hash -> Text,
        active -> Bool,
        password_changed_at -> Timestamp,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
        change_seq -> BigInt,
    }
}

diesel::table! {
    auth_sessions (id) {
        id -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        revoked_reason -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        session_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    login_throttle (key) {
        key -> Text,
        failures -> Integer,
        window_started_at -> Timestamp,
        blocked_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    reset_codes (id) {
        id -> Text,
        user_id -> Text,
        code_hash -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        at -> Timestamp,
        actor_id -> Nullable<Text>,
        actor_role -> Nullable<Text>,
        action -> Text,
        entity -> Text,
        entity_id -> Text,
        commune_code -> Nullable<Text>,
        province_code -> Nullable<Text>,
        request_id -> Nullable<Text>,
        changed_fields -> Text,
    }
}

diesel::joinable!(units -> provinces (province_code));
diesel::joinable!(auth_sessions -> users (user_id));
diesel::joinable!(refresh_tokens -> auth_sessions (session_id));

diesel::allow_tables_to_appear_in_same_query!(
    provinces,
    units,
    change_counter,
    users,
    auth_sessions,
    refresh_tokens,
    login_throttle,
    reset_codes,
    audit_log,
);
