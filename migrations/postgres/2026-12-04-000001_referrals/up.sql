-- Two-way referrals (双向转诊, docs/domain.md "Referrals"): a record a tablet creates
-- offline like a visit, with a state machine like a contract's. Times are clinical
-- (the tablet's) in UTC milliseconds with their local dates beside them for reports.
CREATE TABLE referrals (
    id              TEXT PRIMARY KEY,
    county_code     TEXT NOT NULL,
    village_code    TEXT NOT NULL,
    resident_id     TEXT NOT NULL REFERENCES residents(id),
    team_id         TEXT,
    contract_id     TEXT,
    visit_id        TEXT,
    direction       TEXT NOT NULL,       -- up | down
    facility_name   TEXT NOT NULL,
    facility_code   TEXT,
    reason_code     TEXT,
    reason_text     TEXT,
    referred_at     BIGINT NOT NULL,
    referred_on     TEXT NOT NULL,
    status          TEXT NOT NULL,       -- SENT | RECEIVED | RETURNED | CLOSED | CANCELLED
    received_at     BIGINT,
    received_on     TEXT,
    ended_at        BIGINT,              -- when it was returned, closed or cancelled
    ended_on        TEXT,
    summary         TEXT,                -- the return summary
    amends          TEXT,
    amended_by      TEXT,                -- set on the original when an amendment arrives
    version         BIGINT NOT NULL,
    deleted         BOOLEAN NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    change_seq      BIGINT NOT NULL,
    created_by      TEXT NOT NULL,
    device_id       TEXT
);
CREATE INDEX referrals_resident ON referrals(resident_id, referred_on);
CREATE INDEX referrals_county_referred ON referrals(county_code, referred_on);
CREATE INDEX referrals_county_village ON referrals(county_code, village_code);
CREATE INDEX referrals_team_status ON referrals(team_id, status);
