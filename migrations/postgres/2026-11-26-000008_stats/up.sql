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
