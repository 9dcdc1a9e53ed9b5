-- Day-grained rows in the three rollups, next to the half-month ones (grain 'h'): a
-- period whose dates fall off the half-month boundaries is answered from the half-months
-- it covers plus the days at its two edges (at most 14 days each), so no read at province or
-- country scope has to sum the day-level facts. Filled here from stat_facts; the key of a
-- day row is the half-month key with '|d' after the facet value.
ALTER TABLE stat_commune_buckets ADD COLUMN grain TEXT NOT NULL DEFAULT 'h';
ALTER TABLE stat_province_buckets ADD COLUMN grain TEXT NOT NULL DEFAULT 'h';
ALTER TABLE stat_province_dims ADD COLUMN grain TEXT NOT NULL DEFAULT 'h';

-- Covering indexes: a per-unit table reads only the index.
DROP INDEX stat_commune_buckets_commune_idx;
DROP INDEX stat_commune_buckets_province_idx;
DROP INDEX stat_province_buckets_idx;
DROP INDEX stat_province_dims_idx;
DROP INDEX stat_province_dims_facet_idx;
CREATE INDEX stat_commune_buckets_commune_idx ON stat_commune_buckets (commune_code, facet, grain, bucket) INCLUDE (measure, facet_value, n);
CREATE INDEX stat_commune_buckets_province_idx ON stat_commune_buckets (province_code, facet, grain, bucket) INCLUDE (commune_code, measure, facet_value, n);
CREATE INDEX stat_commune_buckets_facet_idx ON stat_commune_buckets (facet, grain, bucket) INCLUDE (commune_code, measure, facet_value, n);
CREATE INDEX stat_province_buckets_idx ON stat_province_buckets (facet, grain, bucket) INCLUDE (province_code, measure, facet_value, n);
CREATE INDEX stat_province_dims_idx ON stat_province_dims (province_code, facet, grain, bucket);
CREATE INDEX stat_province_dims_facet_idx ON stat_province_dims (facet, grain, bucket);

INSERT INTO stat_commune_buckets (bucket_key, commune_code, province_code, bucket, measure, facet, facet_value, n, grain)
SELECT commune_code || '|' || CAST(day AS TEXT) || '|' || measure || '|' || facet || '|' || facet_value || '|d',
       commune_code, province_code, day, measure, facet, facet_value, SUM(n), 'd'
FROM stat_facts GROUP BY commune_code, province_code, day, measure, facet, facet_value HAVING SUM(n) <> 0;

INSERT INTO stat_province_buckets (bucket_key, province_code, bucket, measure, facet, facet_value, n, grain)
SELECT province_code || '|' || CAST(day AS TEXT) || '|' || measure || '|' || facet || '|' || facet_value || '|d',
       province_code, day, measure, facet, facet_value, SUM(n), 'd'
FROM stat_facts GROUP BY province_code, day, measure, facet, facet_value HAVING SUM(n) <> 0;

INSERT INTO stat_province_dims (dims_key, province_code, bucket, measure, facet, facet_value, gender, age_band, ethnicity, language, n, grain)
SELECT province_code || '|' || CAST(day AS TEXT) || '|' || measure || '|' || facet || '|' || facet_value || '|d|'
         || gender || '|' || age_band || '|' || ethnicity || '|' || language,
       province_code, day, measure, facet, facet_value, gender, age_band, ethnicity, language, SUM(n), 'd'
FROM stat_facts GROUP BY province_code, day, measure, facet, facet_value, gender, age_band, ethnicity, language HAVING SUM(n) <> 0;
