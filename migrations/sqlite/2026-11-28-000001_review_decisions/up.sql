-- Review-queue decisions (docs/review.md): every resolved item keeps its decision and the
-- supervisor's reason; quarantined ops get the same columns as conflicts.
ALTER TABLE conflicts ADD COLUMN resolution_reason TEXT;
ALTER TABLE quarantine ADD COLUMN resolution TEXT;
ALTER TABLE quarantine ADD COLUMN resolution_reason TEXT;
-- The queue lists contracts held PENDING_REVIEW and finds the conflicts naming a record.
CREATE INDEX contracts_county_status ON contracts(county_code, status);
CREATE INDEX conflicts_entity ON conflicts(entity_id);
CREATE INDEX conflicts_other_entity ON conflicts(other_entity_id);
