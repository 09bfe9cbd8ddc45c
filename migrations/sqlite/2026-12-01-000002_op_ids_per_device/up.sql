-- An op id names one op of one device (docs/sync-protocol.md, "Replays"): the same op id
-- from two devices is two ops. Every row already names its device. Each op's content
-- digest is kept with it; rows from before have none and answer replays as they did.
-- SQLite cannot change a primary key in place, so the table is rebuilt.
CREATE TABLE applied_ops_by_device (
    op_id       TEXT NOT NULL,
    device_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    county_code TEXT NOT NULL,
    entity      TEXT NOT NULL,
    entity_id   TEXT,
    action      TEXT NOT NULL,
    status      TEXT NOT NULL,
    result      TEXT NOT NULL,           -- the first answer, returned again on replay
    received_at BIGINT NOT NULL,
    digest      TEXT,                    -- SHA-256 of the op's content (src/sync/replay.rs)
    PRIMARY KEY (device_id, op_id)
);
INSERT INTO applied_ops_by_device
    (op_id, device_id, user_id, county_code, entity, entity_id, action, status, result, received_at)
SELECT op_id, device_id, user_id, county_code, entity, entity_id, action, status, result, received_at
FROM applied_ops;
DROP TABLE applied_ops;
ALTER TABLE applied_ops_by_device RENAME TO applied_ops;
CREATE INDEX applied_ops_device ON applied_ops(device_id, received_at);
