DROP TABLE audit_log; DROP TABLE quarantine; DROP TABLE conflicts; DROP TABLE applied_ops;
DROP TABLE sync_counters; DROP TABLE change_log; DROP TABLE blobs; DROP TABLE survey_responses;
DROP TABLE questionnaires; DROP TABLE visits; DROP TABLE not_signed; DROP TABLE contract_packages;
DROP TABLE contracts; DROP TABLE service_packages; DROP TABLE resident_moves; DROP TABLE resident_tags;
DROP TABLE residents; DROP TABLE refresh_tokens; DROP TABLE devices; DROP TABLE users;
DROP TABLE team_villages; DROP TABLE teams; DROP TABLE population; DROP TABLE county_settings;
DROP TABLE regions;
