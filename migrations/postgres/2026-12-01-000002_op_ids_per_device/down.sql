-- Fails while two devices share an op id: those are two ops, and one key cannot hold both.
ALTER TABLE applied_ops DROP COLUMN digest;
ALTER TABLE applied_ops DROP CONSTRAINT applied_ops_pkey;
ALTER TABLE applied_ops ADD PRIMARY KEY (op_id);
