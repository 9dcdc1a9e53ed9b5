-- Statistics counters, maintained in the write transaction of every record change
-- (src/stats.rs): one row per commune × day × measure × facet × dimensions, with its count.
-- `fact_key` joins all the coordinates, so an update finds its row by one key.
CREATE TABLE stat_facts (
    fact_key TEXT PRIMARY KEY NOT NULL,
    commune_code TEXT NOT NULL,
    province_code TEXT NOT NULL,
    day DATE NOT NULL,
    measure TEXT NOT NULL,
    facet TEXT NOT NULL,
    facet_value TEXT NOT NULL,
    gender TEXT NOT NULL,
    age_band TEXT NOT NULL,
    ethnicity TEXT NOT NULL,
    team_id TEXT NOT NULL,
    language TEXT NOT NULL,
    campaign TEXT NOT NULL,
    n BIGINT NOT NULL
);
CREATE INDEX stat_facts_commune_idx ON stat_facts (commune_code, facet, measure, day);
CREATE INDEX stat_facts_province_idx ON stat_facts (province_code, facet, measure, day);
CREATE INDEX stat_facts_facet_idx ON stat_facts (facet, measure, day);

-- Rollups of stat_facts without dimensions, by half-month bucket (the 1st or the 15th:
-- Decree 09 and calendar windows both fall on these boundaries), maintained by the same
-- deltas: overviews and per-unit tables read a few rows per unit instead of every fact.
CREATE TABLE stat_commune_buckets (
    bucket_key TEXT PRIMARY KEY NOT NULL,
    commune_code TEXT NOT NULL,
    province_code TEXT NOT NULL,
    bucket DATE NOT NULL,
    measure TEXT NOT NULL,
    facet TEXT NOT NULL,
    facet_value TEXT NOT NULL,
    n BIGINT NOT NULL
);
CREATE INDEX stat_commune_buckets_commune_idx ON stat_commune_buckets (commune_code, facet, bucket);
CREATE INDEX stat_commune_buckets_province_idx ON stat_commune_buckets (province_code, facet, bucket);
CREATE TABLE stat_province_buckets (
    bucket_key TEXT PRIMARY KEY NOT NULL,
    province_code TEXT NOT NULL,
    bucket DATE NOT NULL,
    measure TEXT NOT NULL,
    facet TEXT NOT NULL,
    facet_value TEXT NOT NULL,
    n BIGINT NOT NULL
);
CREATE INDEX stat_province_buckets_idx ON stat_province_buckets (facet, bucket);
-- Province rollup with the person dimensions and the teaching language: breakdowns of a
-- province or of the country (without team or campaign) read it instead of every fact.
CREATE TABLE stat_province_dims (
    dims_key TEXT PRIMARY KEY NOT NULL,
    province_code TEXT NOT NULL,
    bucket DATE NOT NULL,
    measure TEXT NOT NULL,
    facet TEXT NOT NULL,
    facet_value TEXT NOT NULL,
    gender TEXT NOT NULL,
    age_band TEXT NOT NULL,
    ethnicity TEXT NOT NULL,
    language TEXT NOT NULL,
    n BIGINT NOT NULL
);
CREATE INDEX stat_province_dims_idx ON stat_province_dims (province_code, facet, bucket);
CREATE INDEX stat_province_dims_facet_idx ON stat_province_dims (facet, bucket);

-- Adults living in a unit (admins set it, with year and source): the participation rate.
CREATE TABLE unit_populations (
    code TEXT PRIMARY KEY NOT NULL REFERENCES units (code),
    adults BIGINT NOT NULL,
    year INTEGER NOT NULL,
    source TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    updated_by TEXT NOT NULL REFERENCES users (id)
);

-- Closed periodic reports: the counters of the report's window, frozen when it was
-- closed (later edits in the field do not change it); reopening (audited, with a reason)
-- deletes the copy and the report follows the live counters again.
CREATE TABLE report_snapshots (
    report_key TEXT PRIMARY KEY NOT NULL,
    period TEXT NOT NULL,
    calendar BOOLEAN NOT NULL,
    from_day DATE NOT NULL,
    to_day DATE NOT NULL,
    status TEXT NOT NULL,
    closed_at TIMESTAMP NOT NULL,
    closed_by TEXT NOT NULL REFERENCES users (id),
    reopened_at TIMESTAMP,
    reopened_by TEXT REFERENCES users (id),
    reopen_reason TEXT
);
CREATE TABLE report_facts (
    report_key TEXT NOT NULL,
    fact_key TEXT NOT NULL,
    commune_code TEXT NOT NULL,
    province_code TEXT NOT NULL,
    day DATE NOT NULL,
    measure TEXT NOT NULL,
    facet TEXT NOT NULL,
    facet_value TEXT NOT NULL,
    gender TEXT NOT NULL,
    age_band TEXT NOT NULL,
    ethnicity TEXT NOT NULL,
    team_id TEXT NOT NULL,
    language TEXT NOT NULL,
    campaign TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (report_key, fact_key)
);
CREATE INDEX report_facts_commune_idx ON report_facts (report_key, commune_code, facet, measure);
CREATE INDEX report_facts_province_idx ON report_facts (report_key, province_code, facet, measure);
