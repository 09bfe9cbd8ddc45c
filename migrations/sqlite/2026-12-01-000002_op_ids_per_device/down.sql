-- Fails while two devices share an op id: those are two ops, and one key cannot hold both.
CREATE TABLE applied_ops_by_op (
    op_id       TEXT PRIMARY KEY,
    device_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    county_code TEXT NOT NULL,
    entity      TEXT NOT NULL,
    entity_id   TEXT,
    action      TEXT NOT NULL,
    status      TEXT NOT NULL,
    result      TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
INSERT INTO applied_ops_by_op
SELECT op_id, device_id, user_id, county_code, entity, entity_id, action, status, result, received_at
FROM applied_ops;
DROP TABLE applied_ops;
ALTER TABLE applied_ops_by_op RENAME TO applied_ops;
CREATE INDEX applied_ops_device ON applied_ops(device_id, received_at);
