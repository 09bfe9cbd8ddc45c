-- The ledger (docs/architecture.md, "The ledger"): one row per change, in server order — the
-- axis every pull cursor follows, as the change log was — and, on the first row an op
-- wrote, what the op's idempotency record and audit entry carried: who sent it, its verdict
-- and first answer (returned again on replay), and the audit entry's action, clinical time
-- and detail. An applied op leaves one row here instead of three. Ops that changed nothing
-- (rejected, quarantined) keep their record in applied_ops; events that are not ops
-- (logins, review decisions, admin edits, exports) keep their audit_log rows.
CREATE TABLE ledger (
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
    changed_at   BIGINT NOT NULL,
    user_id      TEXT,
    status       TEXT,                   -- the op's verdict: applied | conflict
    result       TEXT,                   -- the op's first answer (JSON): set on its first row only
    digest       TEXT,                   -- the op's content digest (src/sync/replay.rs)
    audit_id     TEXT,                   -- UUIDv7 of the audit entry this row stands for
    audit_action TEXT,
    clinical_at  BIGINT,                 -- tablet time of the recorded event
    detail       TEXT
);
INSERT INTO ledger (seq, county_code, village_code, team_id, entity, entity_id, version, deleted, op_id, device_id, changed_at)
SELECT seq, county_code, village_code, team_id, entity, entity_id, version, deleted, op_id, device_id, changed_at
FROM change_log;
DROP TABLE change_log;
CREATE INDEX ledger_village ON ledger(village_code, seq);
CREATE INDEX ledger_county ON ledger(county_code, seq);
UPDATE sync_counters SET name = 'ledger' WHERE name = 'change_log';

-- Idempotency records of ops that changed something move onto their op's first row.
CREATE INDEX ledger_moving ON ledger(device_id, op_id, seq);
UPDATE ledger SET user_id = a.user_id, status = a.status, result = a.result, digest = a.digest
FROM applied_ops a
WHERE a.device_id = ledger.device_id AND a.op_id = ledger.op_id
  AND ledger.seq = (SELECT MIN(l.seq) FROM ledger l WHERE l.device_id = a.device_id AND l.op_id = a.op_id);
DROP INDEX ledger_moving;
CREATE UNIQUE INDEX ledger_op ON ledger(device_id, op_id) WHERE result IS NOT NULL;
DELETE FROM applied_ops WHERE EXISTS (
    SELECT 1 FROM ledger l
    WHERE l.result IS NOT NULL AND l.device_id = applied_ops.device_id AND l.op_id = applied_ops.op_id
);
CREATE INDEX ledger_audit ON ledger(county_code, audit_id) WHERE audit_id IS NOT NULL;
CREATE INDEX ledger_audit_entity ON ledger(entity_id) WHERE audit_id IS NOT NULL;

-- Every op's record, wherever it is kept: what a replay is answered from.
CREATE VIEW op_records AS
SELECT device_id, op_id, user_id, county_code, status, result, digest, received_at FROM applied_ops
UNION ALL
SELECT device_id, op_id, user_id, county_code, status, result, digest, changed_at FROM ledger WHERE result IS NOT NULL;

-- The audit trail supervisors read: the audit log's entries and the ledger rows that stand
-- for an op's entry.
CREATE VIEW audit_trail AS
SELECT id, at, clinical_at, county_code, user_id, device_id, action, entity, entity_id, detail FROM audit_log
UNION ALL
SELECT audit_id, changed_at, clinical_at, county_code, user_id, device_id, audit_action, entity, entity_id, detail
FROM ledger WHERE audit_id IS NOT NULL;
