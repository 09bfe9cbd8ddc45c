-- jiayi schema v1. Instants are BIGINT epoch milliseconds (UTC); clinical dates are
-- 'YYYY-MM-DD' text in the tablet's local calendar; ids are UUID text. Every row that
-- belongs to a place carries county_code (the future distribution key).

CREATE TABLE regions (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    level       TEXT NOT NULL,            -- county | township | village
    parent_code TEXT REFERENCES regions(code),
    county_code TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX regions_parent ON regions(parent_code);
CREATE INDEX regions_county ON regions(county_code, level);

CREATE TABLE county_settings (
    county_code          TEXT PRIMARY KEY REFERENCES regions(code),
    contract_term_months INTEGER NOT NULL DEFAULT 12,
    updated_at           BIGINT NOT NULL
);

CREATE TABLE population (
    region_code TEXT NOT NULL REFERENCES regions(code),
    year        INTEGER NOT NULL,
    category    TEXT NOT NULL,
    head_count  BIGINT NOT NULL,
    county_code TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (region_code, year, category)
);
CREATE INDEX population_county ON population(county_code, year, category);

CREATE TABLE teams (
    id            TEXT PRIMARY KEY,
    code          TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    township_code TEXT NOT NULL REFERENCES regions(code),
    county_code   TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX teams_township ON teams(township_code);

CREATE TABLE team_villages (
    team_id      TEXT NOT NULL REFERENCES teams(id),
    village_code TEXT NOT NULL REFERENCES regions(code),
    county_code  TEXT NOT NULL,
    PRIMARY KEY (team_id, village_code)
);
CREATE INDEX team_villages_village ON team_villages(village_code);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,          -- doctor | team_lead | supervisor | admin
    team_id       TEXT REFERENCES teams(id),
    region_code   TEXT NOT NULL REFERENCES regions(code),
    county_code   TEXT NOT NULL,
    active        BOOLEAN NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX users_team ON users(team_id);

CREATE TABLE devices (
    id            TEXT PRIMARY KEY,       -- chosen by the tablet
    user_id       TEXT NOT NULL REFERENCES users(id),
    name          TEXT NOT NULL,
    app_version   TEXT,
    county_code   TEXT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    revoked_at    BIGINT,
    revoked_by    TEXT,
    revoke_reason TEXT
);
CREATE INDEX devices_user ON devices(user_id);

CREATE TABLE refresh_tokens (
    id         TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,     -- SHA-256 of the token; the token itself is never stored
    family_id  TEXT NOT NULL,            -- one login's rotation chain
    device_id  TEXT NOT NULL REFERENCES devices(id),
    user_id    TEXT NOT NULL REFERENCES users(id),
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);
CREATE INDEX refresh_tokens_device ON refresh_tokens(device_id);

CREATE TABLE residents (
    id           TEXT PRIMARY KEY,
    county_code  TEXT NOT NULL,
    village_code TEXT NOT NULL REFERENCES regions(code),
    name         TEXT NOT NULL,
    sex          TEXT NOT NULL,
    birth_date   TEXT NOT NULL,
    id_hash      TEXT NOT NULL,          -- HMAC-SHA256 of the ID number with the server secret
    id_masked    TEXT NOT NULL,          -- e.g. 4311**********123X; the clear number is not stored
    phone        TEXT,
    tags         TEXT NOT NULL,          -- JSON array of recorded tag codes, sorted
    household_id TEXT,
    registered_on TEXT NOT NULL,       -- clinical date the record was created
    field_clock  TEXT NOT NULL,          -- JSON: field -> clinical instant of its last change
    merged_into  TEXT,
    version      BIGINT NOT NULL,
    deleted      BOOLEAN NOT NULL,
    recorded_at  BIGINT NOT NULL,        -- clinical time of the last change (tablet)
    created_at   BIGINT NOT NULL,        -- server receive time
    updated_at   BIGINT NOT NULL,
    change_seq   BIGINT NOT NULL,
    created_by   TEXT NOT NULL,
    device_id    TEXT
);
CREATE INDEX residents_village ON residents(village_code);
CREATE INDEX residents_id_hash ON residents(county_code, id_hash);

CREATE TABLE resident_tags (
    resident_id  TEXT NOT NULL REFERENCES residents(id),
    tag          TEXT NOT NULL,
    county_code  TEXT NOT NULL,
    village_code TEXT NOT NULL,
    PRIMARY KEY (resident_id, tag)
);
CREATE INDEX resident_tags_tag ON resident_tags(county_code, tag);

CREATE TABLE resident_moves (
    id           TEXT PRIMARY KEY,
    resident_id  TEXT NOT NULL REFERENCES residents(id),
    county_code  TEXT NOT NULL,
    from_village TEXT NOT NULL,
    to_village   TEXT NOT NULL,
    moved_on     TEXT NOT NULL,
    recorded_at  BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX resident_moves_resident ON resident_moves(resident_id, moved_on);

CREATE TABLE service_packages (
    code         TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL,          -- basic | personalised
    price_fen    BIGINT NOT NULL,
    self_pay_fen BIGINT NOT NULL,
    active       BOOLEAN NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE TABLE contracts (
    id               TEXT PRIMARY KEY,
    county_code      TEXT NOT NULL,
    village_code     TEXT NOT NULL,
    resident_id      TEXT NOT NULL REFERENCES residents(id),
    team_id          TEXT NOT NULL REFERENCES teams(id),
    doctor_id        TEXT,
    status           TEXT NOT NULL,
    signed_at        BIGINT,              -- clinical instant of signing
    signed_on        TEXT,                -- its local date
    effective_from   TEXT NOT NULL,
    effective_to     TEXT NOT NULL,
    ended_on         TEXT,
    end_reason       TEXT,
    end_reason_text  TEXT,
    signature_sha256 TEXT,
    renews           TEXT,
    renewed_by       TEXT,
    supersedes       TEXT,
    version          BIGINT NOT NULL,
    deleted          BOOLEAN NOT NULL,
    recorded_at      BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    change_seq       BIGINT NOT NULL,
    created_by       TEXT NOT NULL,
    device_id        TEXT
);
CREATE INDEX contracts_resident ON contracts(resident_id);
CREATE INDEX contracts_village ON contracts(county_code, village_code);
CREATE INDEX contracts_team ON contracts(team_id);
CREATE INDEX contracts_effective ON contracts(county_code, effective_from, effective_to);

CREATE TABLE contract_packages (
    contract_id  TEXT NOT NULL REFERENCES contracts(id),
    package_code TEXT NOT NULL REFERENCES service_packages(code),
    price_fen    BIGINT NOT NULL,        -- price at signing, kept with the contract
    self_pay_fen BIGINT NOT NULL,
    county_code  TEXT NOT NULL,
    PRIMARY KEY (contract_id, package_code)
);

CREATE TABLE not_signed (
    id           TEXT PRIMARY KEY,
    county_code  TEXT NOT NULL,
    village_code TEXT NOT NULL,
    resident_id  TEXT NOT NULL REFERENCES residents(id),
    team_id      TEXT,
    reason       TEXT NOT NULL,
    reason_text  TEXT,
    recorded_at  BIGINT NOT NULL,
    recorded_on  TEXT NOT NULL,
    version      BIGINT NOT NULL,
    deleted      BOOLEAN NOT NULL,
    created_at   BIGINT NOT NULL,
    change_seq   BIGINT NOT NULL,
    created_by   TEXT NOT NULL,
    device_id    TEXT
);
CREATE INDEX not_signed_resident ON not_signed(resident_id);

CREATE TABLE visits (
    id              TEXT PRIMARY KEY,
    county_code     TEXT NOT NULL,
    village_code    TEXT NOT NULL,
    resident_id     TEXT NOT NULL REFERENCES residents(id),
    contract_id     TEXT,
    team_id         TEXT,
    kind            TEXT NOT NULL,
    occurred_at     BIGINT NOT NULL,
    occurred_on     TEXT NOT NULL,
    systolic        INTEGER,
    diastolic       INTEGER,
    fasting_glucose DOUBLE PRECISION,
    weight_kg       DOUBLE PRECISION,
    height_cm       DOUBLE PRECISION,
    measurements    TEXT NOT NULL,       -- JSON as validated
    notes           TEXT,
    amends          TEXT,
    amended_by      TEXT,                -- set on the original when an amendment arrives
    version         BIGINT NOT NULL,
    deleted         BOOLEAN NOT NULL,
    created_at      BIGINT NOT NULL,
    change_seq      BIGINT NOT NULL,
    created_by      TEXT NOT NULL,
    device_id       TEXT
);
CREATE INDEX visits_resident ON visits(resident_id, kind, occurred_on);
CREATE INDEX visits_county_kind ON visits(county_code, kind, occurred_on);

CREATE TABLE questionnaires (
    code              TEXT NOT NULL,
    version           INTEGER NOT NULL,
    title             TEXT NOT NULL,
    definition        TEXT NOT NULL,     -- JSON: items, options, which options count
    satisfaction_item TEXT,
    awareness_item    TEXT,
    created_at        BIGINT NOT NULL,
    PRIMARY KEY (code, version)
);

CREATE TABLE survey_responses (
    id                    TEXT PRIMARY KEY,
    county_code           TEXT NOT NULL,
    village_code          TEXT NOT NULL,
    resident_id           TEXT NOT NULL REFERENCES residents(id),
    team_id               TEXT,
    questionnaire         TEXT NOT NULL,
    questionnaire_version INTEGER NOT NULL,
    answers               TEXT NOT NULL,
    satisfied             BOOLEAN,       -- evaluated against the named version at write time
    aware                 BOOLEAN,
    answered_at           BIGINT NOT NULL,
    answered_on           TEXT NOT NULL,
    amends                TEXT,
    amended_by            TEXT,
    version               BIGINT NOT NULL,
    deleted               BOOLEAN NOT NULL,
    created_at            BIGINT NOT NULL,
    change_seq            BIGINT NOT NULL,
    created_by            TEXT NOT NULL,
    device_id             TEXT
);
CREATE INDEX survey_responses_resident ON survey_responses(resident_id, answered_on);
CREATE INDEX survey_responses_county ON survey_responses(county_code, answered_on);

CREATE TABLE blobs (
    sha256       TEXT PRIMARY KEY,
    size         BIGINT NOT NULL,
    content_type TEXT NOT NULL,
    data         BYTEA NOT NULL,
    county_code  TEXT NOT NULL,
    uploaded_by  TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

-- Server order of every change, the pull cursor's axis. Positions come from
-- sync_counters under a row lock inside the writing transaction, so they commit in order.
CREATE TABLE change_log (
    seq          BIGINT PRIMARY KEY,
    county_code  TEXT NOT NULL,
    village_code TEXT,
    team_id      TEXT,
    entity       TEXT NOT NULL,
    entity_id    TEXT NOT NULL,
    version      BIGINT NOT NULL,
    deleted      BOOLEAN NOT NULL,
    op_id        TEXT,
    device_id    TEXT,
    changed_at   BIGINT NOT NULL
);
CREATE INDEX change_log_village ON change_log(village_code, seq);
CREATE INDEX change_log_county ON change_log(county_code, seq);

CREATE TABLE sync_counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO sync_counters (name, value) VALUES ('change_log', 0);

CREATE TABLE applied_ops (
    op_id       TEXT PRIMARY KEY,
    device_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    county_code TEXT NOT NULL,
    entity      TEXT NOT NULL,
    entity_id   TEXT,
    action      TEXT NOT NULL,
    status      TEXT NOT NULL,
    result      TEXT NOT NULL,           -- the first answer, returned again on replay
    received_at BIGINT NOT NULL
);
CREATE INDEX applied_ops_device ON applied_ops(device_id, received_at);

CREATE TABLE conflicts (
    id              TEXT PRIMARY KEY,
    county_code     TEXT NOT NULL,
    village_code    TEXT,
    kind            TEXT NOT NULL,       -- field_clash | double_signing | divergent_append | duplicate_resident
    entity          TEXT NOT NULL,
    entity_id       TEXT NOT NULL,
    other_entity_id TEXT,
    field           TEXT,
    op_id           TEXT,
    device_id       TEXT,
    server_value    TEXT,
    client_value    TEXT,
    status          TEXT NOT NULL,       -- open | resolved
    resolution      TEXT,
    resolved_by     TEXT,
    resolved_at     BIGINT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX conflicts_open ON conflicts(county_code, status, village_code);

CREATE TABLE quarantine (
    id            TEXT PRIMARY KEY,
    county_code   TEXT NOT NULL,
    village_code  TEXT,
    device_id     TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    op_id         TEXT,
    entity        TEXT,
    raw           TEXT NOT NULL,         -- the op exactly as the tablet sent it
    error_code    TEXT NOT NULL,
    error_field   TEXT,
    error_message TEXT NOT NULL,
    status        TEXT NOT NULL,
    resolved_by   TEXT,
    resolved_at   BIGINT,
    received_at   BIGINT NOT NULL
);
CREATE INDEX quarantine_open ON quarantine(county_code, status, village_code);

CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,        -- UUIDv7: sorts by time
    at          BIGINT NOT NULL,         -- server time
    clinical_at BIGINT,                  -- tablet time of the recorded event, if any
    county_code TEXT,
    user_id     TEXT,
    device_id   TEXT,
    action      TEXT NOT NULL,
    entity      TEXT,
    entity_id   TEXT,
    detail      TEXT
);
CREATE INDEX audit_log_county ON audit_log(county_code, at);
CREATE INDEX audit_log_entity ON audit_log(entity, entity_id);
