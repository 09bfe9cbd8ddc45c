-- An op id names one op of one device (docs/sync-protocol.md, "Replays"): the same op id
-- from two devices is two ops. Every row already names its device. Each op's content
-- digest is kept with it; rows from before have none and answer replays as they did.
ALTER TABLE applied_ops DROP CONSTRAINT applied_ops_pkey;
ALTER TABLE applied_ops ADD PRIMARY KEY (device_id, op_id);
ALTER TABLE applied_ops ADD COLUMN digest TEXT;
