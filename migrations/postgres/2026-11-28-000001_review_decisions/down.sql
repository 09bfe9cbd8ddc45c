DROP INDEX conflicts_other_entity;
DROP INDEX conflicts_entity;
DROP INDEX contracts_county_status;
ALTER TABLE quarantine DROP COLUMN resolution_reason;
ALTER TABLE quarantine DROP COLUMN resolution;
ALTER TABLE conflicts DROP COLUMN resolution_reason;
