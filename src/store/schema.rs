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

diesel::table! {
    hamlets (id) {
        id -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
        change_seq -> BigInt,
        create_digest -> Text,
        commune_code -> Text,
        name -> Text,
        kind -> Text,
        search_name -> Text,
    }
}

diesel::table! {
    topics (id) {
        id -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        retired_at -> Nullable<Timestamp>,
        change_seq -> BigInt,
        name_vi -> Text,
        name_en -> Text,
    }
}

diesel::table! {
    teams (id) {
        id -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
        change_seq -> BigInt,
        create_digest -> Text,
        commune_code -> Text,
        hamlet_id -> Nullable<Text>,
        name -> Text,
        kind -> Text,
        level -> Text,
        decision_number -> Nullable<Text>,
        decision_date -> Nullable<Date>,
        active -> Bool,
    }
}

diesel::table! {
    team_members (id) {
        id -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
        change_seq -> BigInt,
        create_digest -> Text,
        team_id -> Text,
        commune_code -> Text,
        full_name -> Text,
        phone -> Nullable<Text>,
        role -> Text,
        affiliation -> Text,
        joined_on -> Nullable<Date>,
        left_on -> Nullable<Date>,
        user_id -> Nullable<Text>,
        cell_key -> BigInt,
    }
}

diesel::table! {
    classes (id) {
        id -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
        change_seq -> BigInt,
        create_digest -> Text,
        commune_code -> Text,
        hamlet_id -> Nullable<Text>,
        team_id -> Text,
        title -> Text,
        mode -> Text,
        language -> Text,
        interpreter_used -> Bool,
        venue -> Nullable<Text>,
        start_date -> Date,
        end_date -> Date,
        planned_sessions -> Integer,
        campaign -> Nullable<Text>,
        status -> Text,
        cancel_reason -> Nullable<Text>,
        min_attendance_ratio -> Double,
    }
}

diesel::table! {
    class_topics (class_id, topic_id) {
        class_id -> Text,
        topic_id -> Text,
    }
}

diesel::table! {
    class_instructors (class_id, member_id) {
        class_id -> Text,
        member_id -> Text,
    }
}

diesel::table! {
    class_sessions (id) {
        id -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
        change_seq -> BigInt,
        create_digest -> Text,
        class_id -> Text,
        commune_code -> Text,
        held_on -> Date,
        duration_minutes -> Integer,
        topic_ids -> Text,
        notes -> Nullable<Text>,
    }
}

diesel::table! {
    trainees (id) {
        id -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
        change_seq -> BigInt,
        create_digest -> Text,
        commune_code -> Text,
        hamlet_id -> Nullable<Text>,
        full_name -> Text,
        search_name -> Text,
        gender -> Text,
        birth_year -> Integer,
        phone -> Nullable<Text>,
        id_hash -> Nullable<Text>,
        id_last4 -> Nullable<Text>,
        ethnicity_code -> Nullable<Text>,
        target_groups -> Text,
        occupation -> Nullable<Text>,
        consent_basic -> Bool,
        consent_ethnicity -> Bool,
        consent_method -> Text,
        consent_at -> Timestamp,
        consent_by -> Nullable<Text>,
        merged_into -> Nullable<Text>,
        erased_at -> Nullable<Timestamp>,
        cell_key -> BigInt,
    }
}

diesel::table! {
    enrollments (id) {
        id -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
        change_seq -> BigInt,
        create_digest -> Text,
        class_id -> Text,
        trainee_id -> Text,
        commune_code -> Text,
        status -> Text,
        drop_reason -> Nullable<Text>,
        completion_result -> Nullable<Text>,
        completion_evidence -> Nullable<Text>,
        completed_on -> Nullable<Date>,
        score -> Nullable<Double>,
        certificate_ref -> Nullable<Text>,
        attendance_override_reason -> Nullable<Text>,
        completion_recorded_by -> Nullable<Text>,
        verification -> Nullable<Text>,
        verification_reason -> Nullable<Text>,
        verified_by -> Nullable<Text>,
        verified_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    session_attendance (session_id) {
        session_id -> Text,
        version -> BigInt,
        updated_at -> Timestamp,
        change_seq -> BigInt,
        class_id -> Text,
        commune_code -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    attendance_marks (session_id, trainee_id) {
        session_id -> Text,
        trainee_id -> Text,
        class_id -> Text,
    }
}

diesel::table! {
    platform_certificates (id) {
        id -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
        change_seq -> BigInt,
        create_digest -> Text,
        trainee_id -> Text,
        commune_code -> Text,
        certificate_ref -> Text,
        course -> Text,
        issued_on -> Date,
    }
}

diesel::table! {
    access_log (id) {
        id -> BigInt,
        at -> Timestamp,
        actor_id -> Text,
        actor_role -> Text,
        action -> Text,
        entity -> Text,
        entity_id -> Nullable<Text>,
        row_count -> Integer,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    idempotency_keys (account_id, idem_key) {
        account_id -> Text,
        idem_key -> Text,
        request_hash -> Text,
        state -> Text,
        response_status -> Nullable<Integer>,
        response_body -> Nullable<Text>,
        response_content_type -> Nullable<Text>,
        response_etag -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    sync_removals (id) {
        id -> BigInt,
        change_seq -> BigInt,
        entity -> Text,
        entity_id -> Text,
        commune_code -> Text,
        at -> Timestamp,
        to_commune_code -> Nullable<Text>,
        version -> BigInt,
    }
}

diesel::table! {
    sync_devices (account_id, device_id) {
        account_id -> Text,
        device_id -> Text,
        commune_code -> Nullable<Text>,
        province_code -> Nullable<Text>,
        app_version -> Nullable<Text>,
        last_sync_at -> Timestamp,
        last_pull_at -> Nullable<Timestamp>,
        last_push_at -> Nullable<Timestamp>,
        last_operations -> Integer,
        last_rejects -> Integer,
        outbox_depth -> Nullable<Integer>,
        oldest_unsynced -> Nullable<Timestamp>,
    }
}

diesel::table! {
    imports (id) {
        id -> Text,
        kind -> Text,
        file_name -> Text,
        dry_run -> Bool,
        applied -> Bool,
        account_id -> Text,
        commune_code -> Nullable<Text>,
        province_code -> Nullable<Text>,
        rows_read -> Integer,
        created -> Integer,
        updated -> Integer,
        unchanged -> Integer,
        skipped -> Integer,
        failed -> Integer,
        report -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    sync_ops (op_id) {
        op_id -> Text,
        account_id -> Text,
        device_id -> Text,
        digest -> Text,
        entity -> Text,
        entity_id -> Text,
        version -> BigInt,
        applied_at -> Timestamp,
    }
}

diesel::table! {
    sync_conflicts (id) {
        id -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        create_digest -> Text,
        account_id -> Text,
        device_id -> Text,
        commune_code -> Text,
        province_code -> Text,
        entity -> Text,
        entity_id -> Text,
        base_version -> Nullable<BigInt>,
        server_version -> Nullable<BigInt>,
        device_body -> Text,
        note -> Nullable<Text>,
        status -> Text,
        decision -> Nullable<Text>,
        resolution_note -> Nullable<Text>,
        resolved_by -> Nullable<Text>,
        resolved_at -> Nullable<Timestamp>,
        result_version -> Nullable<BigInt>,
    }
}

diesel::table! {
    stat_facts (fact_key) {
        fact_key -> Text,
        commune_code -> Text,
        province_code -> Text,
        day -> Date,
        measure -> Text,
        facet -> Text,
        facet_value -> Text,
        gender -> Text,
        age_band -> Text,
        ethnicity -> Text,
        team_id -> Text,
        language -> Text,
        campaign -> Text,
        n -> BigInt,
        k -> BigInt,
    }
}

diesel::table! {
    stat_commune_buckets (bucket_key) {
        bucket_key -> Text,
        commune_code -> Text,
        province_code -> Text,
        bucket -> Date,
        measure -> Text,
        facet -> Text,
        facet_value -> Text,
        n -> BigInt,
        grain -> Text,
        k -> BigInt,
    }
}

diesel::table! {
    stat_province_buckets (bucket_key) {
        bucket_key -> Text,
        province_code -> Text,
        bucket -> Date,
        measure -> Text,
        facet -> Text,
        facet_value -> Text,
        n -> BigInt,
        grain -> Text,
        k -> BigInt,
    }
}

diesel::table! {
    stat_province_dims (dims_key) {
        dims_key -> Text,
        province_code -> Text,
        bucket -> Date,
        measure -> Text,
        facet -> Text,
        facet_value -> Text,
        gender -> Text,
        age_band -> Text,
        ethnicity -> Text,
        language -> Text,
        n -> BigInt,
        grain -> Text,
        k -> BigInt,
    }
}

diesel::table! {
    unit_populations (code) {
        code -> Text,
        adults -> BigInt,
        year -> Integer,
        source -> Text,
        updated_at -> Timestamp,
        updated_by -> Text,
    }
}

diesel::table! {
    server_settings (name) {
        name -> Text,
        value -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    report_snapshots (report_key) {
        report_key -> Text,
        period -> Text,
        calendar -> Bool,
        from_day -> Date,
        to_day -> Date,
        status -> Text,
        closed_at -> Timestamp,
        closed_by -> Text,
        reopened_at -> Nullable<Timestamp>,
        reopened_by -> Nullable<Text>,
        reopen_reason -> Nullable<Text>,
    }
}

diesel::table! {
    report_facts (report_key, fact_key) {
        report_key -> Text,
        fact_key -> Text,
        commune_code -> Text,
        province_code -> Text,
        day -> Date,
        measure -> Text,
        facet -> Text,
        facet_value -> Text,
        gender -> Text,
        age_band -> Text,
        ethnicity -> Text,
        team_id -> Text,
        language -> Text,
        campaign -> Text,
        n -> BigInt,
        k -> BigInt,
    }
}

diesel::joinable!(units -> provinces (province_code));
diesel::joinable!(auth_sessions -> users (user_id));
diesel::joinable!(sync_devices -> users (account_id));
diesel::joinable!(refresh_tokens -> auth_sessions (session_id));
diesel::joinable!(class_topics -> classes (class_id));
diesel::joinable!(class_topics -> topics (topic_id));
diesel::joinable!(class_instructors -> classes (class_id));
diesel::joinable!(class_instructors -> team_members (member_id));
diesel::joinable!(team_members -> teams (team_id));
diesel::joinable!(classes -> teams (team_id));
diesel::joinable!(class_sessions -> classes (class_id));
diesel::joinable!(enrollments -> trainees (trainee_id));
diesel::joinable!(enrollments -> classes (class_id));
diesel::joinable!(attendance_marks -> trainees (trainee_id));
diesel::joinable!(platform_certificates -> trainees (trainee_id));

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
    hamlets,
    topics,
    teams,
    team_members,
    classes,
    class_topics,
    class_instructors,
    class_sessions,
    trainees,
    enrollments,
    session_attendance,
    attendance_marks,
    platform_certificates,
    access_log,
    idempotency_keys,
    sync_removals,
    sync_devices,
    sync_ops,
    sync_conflicts,
    stat_facts,
    stat_commune_buckets,
    stat_province_buckets,
    stat_province_dims,
    unit_populations,
    report_snapshots,
    report_facts,
    server_settings,
    imports,
);
