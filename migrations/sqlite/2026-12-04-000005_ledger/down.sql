DROP VIEW audit_trail;
DROP VIEW op_records;
INSERT INTO applied_ops (op_id, device_id, user_id, county_code, entity, entity_id, action, status, result, received_at, digest)
SELECT op_id, device_id, user_id, county_code, entity, entity_id, 'unknown', status, result, changed_at, digest
FROM ledger WHERE result IS NOT NULL;
INSERT INTO audit_log (id, at, clinical_at, county_code, user_id, device_id, action, entity, entity_id, detail)
SELECT audit_id, changed_at, clinical_at, county_code, user_id, device_id, audit_action, entity, entity_id, detail
FROM ledger WHERE audit_id IS NOT NULL;
CREATE TABLE change_log (
    seq          BIGINT PRIMARY KEY,
    county_code  TEXT NOT NULL,
    village_code TEXT,
    team_id      TEXT,
    entity       TEXT NOT NULL,
    entity_id    TEXT NOT NULL,
    version      BIGINT NOT NULL,
    deleted      BOOLEAN NOT NULL,
    op_id        TEXT,
    device_id    TEXT,
    changed_at   BIGINT NOT NULL
);
INSERT INTO change_log
SELECT seq, county_code, village_code, team_id, entity, entity_id, version, deleted, op_id, device_id, changed_at
FROM ledger;
DROP TABLE ledger;
CREATE INDEX change_log_village ON change_log(village_code, seq);
CREATE INDEX change_log_county ON change_log(county_code, seq);
UPDATE sync_counters SET name = 'change_log' WHERE name = 'ledger';
