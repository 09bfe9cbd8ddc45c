-- The FHIR export reads each table a village at a time (src/reports/fhir/pages.rs):
-- residents and contracts have a (county, village) index already; visits and survey
-- responses get one, so a page reads one village's rows instead of the county's.
CREATE INDEX visits_county_village ON visits(county_code, village_code);
CREATE INDEX survey_responses_county_village ON survey_responses(county_code, village_code);
