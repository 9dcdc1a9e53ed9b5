DROP INDEX platform_certificates_seq_idx;
DROP INDEX topics_seq_idx;
