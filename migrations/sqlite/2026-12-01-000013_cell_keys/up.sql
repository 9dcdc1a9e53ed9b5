-- Cell-key perturbation of the statistics analysts read (issue #13, docs/STATS.md): every
-- person gets a random key, never shown, and every counter keeps the sum of the keys of
-- the people it counts next to their number. The live counters' sums are filled by the
-- recount the server runs at start-up after this migration (server_settings). The frozen
-- rows of reports closed before cannot be recounted (they are copies of a past state):
-- each gets a random key sum of its own, so their cells are perturbed as randomly.
ALTER TABLE trainees ADD COLUMN cell_key BIGINT NOT NULL DEFAULT 0;
UPDATE trainees SET cell_key = abs(random()) % 2147483648;
ALTER TABLE team_members ADD COLUMN cell_key BIGINT NOT NULL DEFAULT 0;
UPDATE team_members SET cell_key = abs(random()) % 2147483648;
ALTER TABLE stat_facts ADD COLUMN k BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stat_commune_buckets ADD COLUMN k BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stat_province_buckets ADD COLUMN k BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stat_province_dims ADD COLUMN k BIGINT NOT NULL DEFAULT 0;
ALTER TABLE report_facts ADD COLUMN k BIGINT NOT NULL DEFAULT 0;
UPDATE report_facts SET k = abs(random()) % 2147483648 WHERE n <> 0;
-- The rollups' covering indexes carry the key sums too (reads sum n and k from the index).
DROP INDEX stat_commune_buckets_commune_idx;
DROP INDEX stat_commune_buckets_province_idx;
DROP INDEX stat_commune_buckets_facet_idx;
DROP INDEX stat_province_buckets_idx;
CREATE INDEX stat_commune_buckets_commune_idx ON stat_commune_buckets (commune_code, facet, grain, bucket, measure, facet_value, n, k);
CREATE INDEX stat_commune_buckets_province_idx ON stat_commune_buckets (province_code, facet, grain, bucket, commune_code, measure, facet_value, n, k);
CREATE INDEX stat_commune_buckets_facet_idx ON stat_commune_buckets (facet, grain, bucket, commune_code, measure, facet_value, n, k);
CREATE INDEX stat_province_buckets_idx ON stat_province_buckets (facet, grain, bucket, province_code, measure, facet_value, n, k);
