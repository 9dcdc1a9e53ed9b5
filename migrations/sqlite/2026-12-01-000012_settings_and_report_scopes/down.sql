UPDATE report_snapshots SET report_key = substr(report_key, 3) WHERE report_key LIKE 'n:%';
UPDATE report_facts SET report_key = substr(report_key, 3) WHERE report_key LIKE 'n:%';
DROP TABLE server_settings;
