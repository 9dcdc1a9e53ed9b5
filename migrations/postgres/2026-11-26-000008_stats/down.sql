DROP TABLE stat_facts;
