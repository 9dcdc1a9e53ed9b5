DROP TABLE report_facts;
DROP TABLE report_snapshots;
DROP TABLE unit_populations;
DROP TABLE stat_province_dims;
DROP TABLE stat_province_buckets;
DROP TABLE stat_commune_buckets;
DROP TABLE stat_facts;
