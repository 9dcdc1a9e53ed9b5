ALTER TABLE report_facts DROP COLUMN k;
ALTER TABLE stat_province_dims DROP COLUMN k;
ALTER TABLE stat_province_buckets DROP COLUMN k;
ALTER TABLE stat_commune_buckets DROP COLUMN k;
ALTER TABLE stat_facts DROP COLUMN k;
ALTER TABLE team_members DROP COLUMN cell_key;
ALTER TABLE trainees DROP COLUMN cell_key;
