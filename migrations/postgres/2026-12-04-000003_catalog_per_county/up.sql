-- The package catalog and the questionnaire versions belong to a county (docs/domain.md
-- §2, §5): one county's administrator no longer changes what another's tablets offer.
-- Every existing row is copied to every county the database knows: the county regions
-- (every county that has users and tablets) and, so that no contract or response is left
-- without its catalog, every county a contract's packages or a survey response names.
-- A contract's packages then point at their own county's rows.
CREATE TEMPORARY TABLE catalog_counties ON COMMIT DROP AS
SELECT code AS county_code FROM regions WHERE level = 'county'
UNION SELECT county_code FROM contract_packages
UNION SELECT county_code FROM survey_responses;

ALTER TABLE contract_packages DROP CONSTRAINT contract_packages_package_code_fkey;
ALTER TABLE service_packages DROP CONSTRAINT service_packages_pkey;
-- '' marks the rows of before, replaced by one copy per county.
ALTER TABLE service_packages ADD COLUMN county_code TEXT NOT NULL DEFAULT '';
INSERT INTO service_packages (code, name, kind, price_fen, self_pay_fen, active, created_at, county_code)
SELECT p.code, p.name, p.kind, p.price_fen, p.self_pay_fen, p.active, p.created_at, c.county_code
FROM service_packages p CROSS JOIN catalog_counties c
WHERE p.county_code = '';
DELETE FROM service_packages WHERE county_code = '';
ALTER TABLE service_packages ALTER COLUMN county_code DROP DEFAULT;
ALTER TABLE service_packages ADD PRIMARY KEY (county_code, code);
ALTER TABLE contract_packages ADD CONSTRAINT contract_packages_package_fkey
    FOREIGN KEY (county_code, package_code) REFERENCES service_packages (county_code, code);

ALTER TABLE questionnaires DROP CONSTRAINT questionnaires_pkey;
ALTER TABLE questionnaires ADD COLUMN county_code TEXT NOT NULL DEFAULT '';
INSERT INTO questionnaires (code, version, title, definition, satisfaction_item, awareness_item, created_at, county_code)
SELECT q.code, q.version, q.title, q.definition, q.satisfaction_item, q.awareness_item, q.created_at, c.county_code
FROM questionnaires q CROSS JOIN catalog_counties c
WHERE q.county_code = '';
DELETE FROM questionnaires WHERE county_code = '';
ALTER TABLE questionnaires ALTER COLUMN county_code DROP DEFAULT;
ALTER TABLE questionnaires ADD PRIMARY KEY (county_code, code, version);
