-- The package catalog and the questionnaire versions belong to a county (docs/domain.md
-- §2, §5): one county's administrator no longer changes what another's tablets offer.
-- Every existing row is copied to every county the database knows: the county regions
-- (every county that has users and tablets) and, so that no contract or response is left
-- without its catalog, every county a contract's packages or a survey response names.
-- A contract's packages then point at their own county's rows.
--
-- SQLite cannot change a primary or foreign key in place, so the three tables are
-- rebuilt. The new child table refers to the new parent before either is renamed (a
-- rename carries the reference along), so no foreign key is ever checked against a
-- table of the old shape while diesel's transaction runs with foreign keys on.
CREATE TABLE catalog_counties (county_code TEXT PRIMARY KEY);
INSERT INTO catalog_counties (county_code)
SELECT code FROM regions WHERE level = 'county'
UNION SELECT county_code FROM contract_packages
UNION SELECT county_code FROM survey_responses;

CREATE TABLE service_packages_by_county (
    code         TEXT NOT NULL,
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL,          -- basic | personalised
    price_fen    BIGINT NOT NULL,
    self_pay_fen BIGINT NOT NULL,
    active       BOOLEAN NOT NULL,
    created_at   BIGINT NOT NULL,
    county_code  TEXT NOT NULL,
    PRIMARY KEY (county_code, code)
);
INSERT INTO service_packages_by_county
    (code, name, kind, price_fen, self_pay_fen, active, created_at, county_code)
SELECT p.code, p.name, p.kind, p.price_fen, p.self_pay_fen, p.active, p.created_at, c.county_code
FROM service_packages p CROSS JOIN catalog_counties c;

CREATE TABLE contract_packages_by_county (
    contract_id  TEXT NOT NULL REFERENCES contracts(id),
    package_code TEXT NOT NULL,
    price_fen    BIGINT NOT NULL,        -- price at signing, kept with the contract
    self_pay_fen BIGINT NOT NULL,
    county_code  TEXT NOT NULL,
    PRIMARY KEY (contract_id, package_code),
    FOREIGN KEY (county_code, package_code) REFERENCES service_packages_by_county(county_code, code)
);
INSERT INTO contract_packages_by_county (contract_id, package_code, price_fen, self_pay_fen, county_code)
SELECT contract_id, package_code, price_fen, self_pay_fen, county_code FROM contract_packages;
DROP TABLE contract_packages;
DROP TABLE service_packages;
ALTER TABLE service_packages_by_county RENAME TO service_packages;
ALTER TABLE contract_packages_by_county RENAME TO contract_packages;

CREATE TABLE questionnaires_by_county (
    code              TEXT NOT NULL,
    version           INTEGER NOT NULL,
    title             TEXT NOT NULL,
    definition        TEXT NOT NULL,     -- JSON: items, options, which options count
    satisfaction_item TEXT,
    awareness_item    TEXT,
    created_at        BIGINT NOT NULL,
    county_code       TEXT NOT NULL,
    PRIMARY KEY (county_code, code, version)
);
INSERT INTO questionnaires_by_county
    (code, version, title, definition, satisfaction_item, awareness_item, created_at, county_code)
SELECT q.code, q.version, q.title, q.definition, q.satisfaction_item, q.awareness_item, q.created_at, c.county_code
FROM questionnaires q CROSS JOIN catalog_counties c;
DROP TABLE questionnaires;
ALTER TABLE questionnaires_by_county RENAME TO questionnaires;

DROP TABLE catalog_counties;
