-- Back to one database-wide catalog: each code (and version) keeps the row of the first
-- county that has it; other counties' differing rows are lost.
CREATE TABLE service_packages_shared (
    code         TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    price_fen    BIGINT NOT NULL,
    self_pay_fen BIGINT NOT NULL,
    active       BOOLEAN NOT NULL,
    created_at   BIGINT NOT NULL
);
INSERT INTO service_packages_shared (code, name, kind, price_fen, self_pay_fen, active, created_at)
SELECT p.code, p.name, p.kind, p.price_fen, p.self_pay_fen, p.active, p.created_at
FROM service_packages p
WHERE p.county_code = (SELECT MIN(o.county_code) FROM service_packages o WHERE o.code = p.code);

CREATE TABLE contract_packages_shared (
    contract_id  TEXT NOT NULL REFERENCES contracts(id),
    package_code TEXT NOT NULL REFERENCES service_packages_shared(code),
    price_fen    BIGINT NOT NULL,
    self_pay_fen BIGINT NOT NULL,
    county_code  TEXT NOT NULL,
    PRIMARY KEY (contract_id, package_code)
);
INSERT INTO contract_packages_shared (contract_id, package_code, price_fen, self_pay_fen, county_code)
SELECT contract_id, package_code, price_fen, self_pay_fen, county_code FROM contract_packages;
DROP TABLE contract_packages;
DROP TABLE service_packages;
ALTER TABLE service_packages_shared RENAME TO service_packages;
ALTER TABLE contract_packages_shared RENAME TO contract_packages;

CREATE TABLE questionnaires_shared (
    code              TEXT NOT NULL,
    version           INTEGER NOT NULL,
    title             TEXT NOT NULL,
    definition        TEXT NOT NULL,
    satisfaction_item TEXT,
    awareness_item    TEXT,
    created_at        BIGINT NOT NULL,
    PRIMARY KEY (code, version)
);
INSERT INTO questionnaires_shared (code, version, title, definition, satisfaction_item, awareness_item, created_at)
SELECT q.code, q.version, q.title, q.definition, q.satisfaction_item, q.awareness_item, q.created_at
FROM questionnaires q
WHERE q.county_code = (SELECT MIN(o.county_code) FROM questionnaires o WHERE o.code = q.code AND o.version = q.version);
DROP TABLE questionnaires;
ALTER TABLE questionnaires_shared RENAME TO questionnaires;
