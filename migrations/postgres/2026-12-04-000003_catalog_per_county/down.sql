-- Back to one database-wide catalog: each code (and version) keeps the row of the first
-- county that has it; other counties' differing rows are lost.
ALTER TABLE contract_packages DROP CONSTRAINT contract_packages_package_fkey;
ALTER TABLE service_packages DROP CONSTRAINT service_packages_pkey;
DELETE FROM service_packages p
WHERE EXISTS (SELECT 1 FROM service_packages o WHERE o.code = p.code AND o.county_code < p.county_code);
ALTER TABLE service_packages DROP COLUMN county_code;
ALTER TABLE service_packages ADD PRIMARY KEY (code);
ALTER TABLE contract_packages ADD CONSTRAINT contract_packages_package_code_fkey
    FOREIGN KEY (package_code) REFERENCES service_packages (code);

ALTER TABLE questionnaires DROP CONSTRAINT questionnaires_pkey;
DELETE FROM questionnaires q
WHERE EXISTS (SELECT 1 FROM questionnaires o
              WHERE o.code = q.code AND o.version = q.version AND o.county_code < q.county_code);
ALTER TABLE questionnaires DROP COLUMN county_code;
ALTER TABLE questionnaires ADD PRIMARY KEY (code, version);
