-- The report cache's county-years as they were counted (src/reports/snapshots.rs): what a
-- restarted server loads instead of counting the county again, then brings up to date from
-- the change log. Valid only at `version` with the change-log row there hashing to
-- `mark`, and only for the counting rules that hash to `fingerprint`.
CREATE TABLE report_snapshots (
    county_code   TEXT NOT NULL,
    period_start  TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    version       BIGINT NOT NULL,
    mark          TEXT NOT NULL,
    data          BYTEA NOT NULL,
    written_at    BIGINT NOT NULL,
    PRIMARY KEY (county_code, period_start)
);
