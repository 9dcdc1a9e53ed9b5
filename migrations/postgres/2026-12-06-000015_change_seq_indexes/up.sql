-- Writers of different communes run in parallel on PostgreSQL (issue #16): a write takes
-- its change numbers at commit time and puts them in place of placeholders with one
-- UPDATE per table, by range of change_seq. Every table a record write numbers needs an
-- index on change_seq for that; these two had none.
CREATE INDEX topics_seq_idx ON topics (change_seq);
CREATE INDEX platform_certificates_seq_idx ON platform_certificates (change_seq);
