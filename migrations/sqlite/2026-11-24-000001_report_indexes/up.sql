-- Indexes for the coverage reports (src/reports/facts.rs): visits and contracts by county
-- and clinical date, renewals by predecessor, moves and residents by county.
CREATE INDEX visits_county_occurred ON visits(county_code, occurred_on);
CREATE INDEX contracts_renews ON contracts(renews);
CREATE INDEX contracts_county_signed ON contracts(county_code, signed_on);
CREATE INDEX contracts_county_ending ON contracts(county_code, effective_to);
CREATE INDEX resident_moves_county ON resident_moves(county_code, resident_id);
CREATE INDEX residents_county_village ON residents(county_code, village_code);
