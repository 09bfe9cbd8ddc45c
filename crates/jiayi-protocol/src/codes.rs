//! The error vocabulary: every stable code the server answers, with its HTTP status, the
//! endpoints that answer it and what it means for a tablet developer. Tablets switch on
//! these codes, so the list is data: docs/sync-protocol.md's table of codes is rendered
//! from it, and a test (`tests/api/error_codes.rs`) fails when a code is used in the
//! server's `src/` without an entry here, or has an entry and is never used.
//!
//! Call sites name a code by its [`Code`] variant, so a code that is not in the vocabulary
//! does not compile; the wire text is [`Code::as_str`].

use crate::error::Kind;

/// Where a code is answered as the whole request's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// Any endpoint (the NUL guard, path segments, the database, faults).
    Every,
    /// Any endpoint that needs an access token.
    Bearer,
    /// Any endpoint that reads a JSON body.
    JsonBody,
    /// Any endpoint that reads query parameters.
    Query,
    /// `POST /api/v1/auth/login` and `/auth/refresh`.
    Auth,
    /// Push, pull and bootstrap (the protocol header and the device's request rate).
    Sync,
    /// `POST /api/v1/sync/push`, the batch as a whole.
    Push,
    /// `GET /api/v1/sync/pull`.
    Pull,
    /// `GET /api/v1/sync/bootstrap`.
    Bootstrap,
    /// `/api/v1/blobs/…`.
    Blobs,
    /// `POST /api/v1/admin/questionnaires`.
    Questionnaires,
    /// The supervisors' review queue.
    Review,
    /// Regions, teams, users and devices.
    Admin,
    /// Reports, population uploads and team work lists.
    Reports,
    /// The console's resident search and a resident's record (`/api/v1/residents…`).
    Residents,
    /// The audit log.
    Audit,
    /// The command-line imports.
    Import,
    /// `/api/v1/me/…`: the caller's own account.
    Account,
}

/// One stable error code.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode {
    /// The code (its wire text: [`ErrorCode::code`]).
    pub variant: Code,
    /// The kind, and so the HTTP status, when the code answers a whole request; `None`
    /// for a code that only ever refuses one op of a push.
    pub kind: Option<Kind>,
    /// Whether a push answers it as one op's `rejected` result.
    pub push_op: bool,
    /// The endpoints that answer it as the request's error.
    pub surfaces: &'static [Surface],
    /// What it means, and what the tablet does, in one line.
    pub meaning: &'static str,
}

impl ErrorCode {
    /// The snake_case code on the wire (`error.code`).
    pub const fn code(&self) -> &'static str {
        self.variant.as_str()
    }
}

/// Declares the vocabulary once: the `Code` enum (a variant per wire code), its text, and
/// the table of what each code means and where it is answered.
macro_rules! vocabulary {
    ($( $variant:ident = $code:literal, $kind:expr, $push:expr, $surfaces:expr, $meaning:literal; )*) => {
        /// A stable error code: what `error.code` says on the wire (see [`Code::as_str`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $( #[doc = $meaning] $variant, )*
        }

        impl Code {
            /// The snake_case code on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Code::$variant => $code, )*
                }
            }
        }

        /// Every code, in alphabetical order.
        pub const CODES: &[ErrorCode] = &[
            $( ErrorCode { variant: Code::$variant, kind: $kind, push_op: $push, surfaces: $surfaces, meaning: $meaning }, )*
        ];
    };
}

#[rustfmt::skip]
vocabulary! {
    AlreadyExists = "already_exists", Some(Kind::Conflict), true, &[Surface::Admin, Surface::Questionnaires], "a record with this id or key exists already; a new record needs a new id";
    AlreadyRenewed = "already_renewed", None, true, &[], "the contract named by `renews` was already renewed by another contract";
    AlreadyResolved = "already_resolved", Some(Kind::Conflict), false, &[Surface::Review], "another supervisor decided this review item first";
    BasicPackageRequired = "basic_package_required", None, true, &[], "`packages` must include `BASIC`";
    ContractImmutable = "contract_immutable", None, true, &[], "a contract's content never changes: a correction is a new contract, a change of state a `transition`";
    DatabaseUnavailable = "database_unavailable", Some(Kind::Unavailable), false, &[Surface::Every], "the database is out of reach; nothing was kept, send the same request again after `Retry-After`";
    DecisionNotAllowed = "decision_not_allowed", Some(Kind::Invalid), false, &[Surface::Review], "this kind of review item does not take that decision";
    DerivedTag = "derived_tag", None, true, &[], "`elderly` and `child` are derived from the birth date and never sent";
    DeviceMismatch = "device_mismatch", Some(Kind::Invalid), false, &[Surface::Push], "`device_id` is not the device the access token was issued to";
    DeviceRevoked = "device_revoked", Some(Kind::Unauthorized), false, &[Surface::Bearer, Surface::Auth], "a supervisor revoked this device: wipe the local data";
    DuplicateCode = "duplicate_code", Some(Kind::Invalid), false, &[Surface::Questionnaires], "two items or two options of the questionnaire share a code";
    DuplicatePackage = "duplicate_package", None, true, &[], "a package code appears twice in `packages`";
    EmptyBlob = "empty_blob", Some(Kind::Invalid), false, &[Surface::Blobs], "the upload has no bytes";
    Forbidden = "forbidden", Some(Kind::Forbidden), false, &[Surface::Admin, Surface::Audit, Surface::Questionnaires, Surface::Reports, Surface::Residents, Surface::Review], "the caller's role or scope does not allow this request";
    FutureDate = "future_date", None, true, &[], "a date (such as `birth_date`) lies in the future";
    FutureTimestamp = "future_timestamp", None, true, &[], "a clinical time lies too far in the future: check the tablet's clock";
    HasSignedContract = "has_signed_contract", None, true, &[], "a resident with a signed contract cannot be deleted";
    HashMismatch = "hash_mismatch", Some(Kind::Invalid), false, &[Surface::Blobs], "the body's SHA-256 differs from the one in the path";
    IdNumberBirthDate = "id_number_birth_date", None, true, &[], "the ID number does not hold a real birth date";
    IdNumberBirthDateMismatch = "id_number_birth_date_mismatch", None, true, &[], "the ID number's birth date differs from `birth_date`";
    IdNumberChecksum = "id_number_checksum", None, true, &[], "the ID number's check character is wrong (a typing error)";
    IdNumberNotRestorable = "id_number_not_restorable", Some(Kind::Invalid), false, &[Surface::Review], "only the masked ID number was kept; the record is corrected on the tablet from the resident's card";
    IdNumberRequired = "id_number_required", None, true, &[], "changing `birth_date` or `sex` needs `id_number` in the same update";
    IdNumberSexMismatch = "id_number_sex_mismatch", None, true, &[], "the ID number's sex digit differs from `sex`";
    IdTaken = "id_taken", None, true, &[], "the id is held by a record outside the caller's scope (the same answer whatever that record is): give the record a new id";
    IllegalTransition = "illegal_transition", None, true, &[], "the contract or referral cannot go from its state to the one asked (the message names both)";
    IncompleteBody = "incomplete_body", Some(Kind::BadRequest), false, &[Surface::Blobs], "the upload was cut off; upload it again";
    InternalError = "internal_error", Some(Kind::Internal), false, &[Surface::Every], "a server fault; the detail is in the server log only. Retry later";
    InvalidCategory = "invalid_category", Some(Kind::Invalid), false, &[Surface::Reports, Surface::Import], "a population category that does not exist";
    InvalidCharacter = "invalid_character", Some(Kind::BadRequest), true, &[Surface::Every], "the URL or body holds a NUL character (in an op: the op is refused alone)";
    InvalidCode = "invalid_code", Some(Kind::Invalid), false, &[Surface::Questionnaires], "a questionnaire, item or option code is not 1–32 of `a–z 0–9 _` starting with a letter";
    InvalidCount = "invalid_count", Some(Kind::Invalid), false, &[Surface::Reports, Surface::Import], "a population count that is not a whole number";
    InvalidCredentials = "invalid_credentials", Some(Kind::Unauthorized), false, &[Surface::Auth], "wrong user name or password";
    InvalidCursor = "invalid_cursor", Some(Kind::BadRequest), false, &[Surface::Push, Surface::Pull, Surface::Review], "the cursor (or `X-Sync-Checkpoint`) was damaged or not issued by this server: follow the re-sync procedure";
    InvalidDate = "invalid_date", None, true, &[], "a date that is not `YYYY-MM-DD`, or a term that ends before it starts";
    InvalidDecision = "invalid_decision", Some(Kind::Invalid), false, &[Surface::Review], "`decision` is not one of the decisions the server knows";
    InvalidDeviceId = "invalid_device_id", Some(Kind::Invalid), false, &[Surface::Auth], "`device_id` is not 8–64 of `A–Z a–z 0–9 - _ . :`";
    InvalidDirection = "invalid_direction", None, true, &[], "a referral's `direction` is neither `up` nor `down`";
    InvalidField = "invalid_field", Some(Kind::Invalid), true, &[Surface::JsonBody, Surface::Auth, Surface::Review, Surface::Reports], "a field has the wrong type or shape; `field` names it";
    InvalidHeader = "invalid_header", Some(Kind::Invalid), false, &[Surface::Reports, Surface::Import], "the CSV header row is not the one expected";
    InvalidId = "invalid_id", Some(Kind::Invalid), true, &[Surface::Review], "an id that is not a UUID";
    InvalidIdNumber = "invalid_id_number", None, true, &[], "an ID number that is not 18 characters (or a 15-digit legacy number)";
    InvalidKeep = "invalid_keep", Some(Kind::Invalid), false, &[Surface::Review], "`keep` names neither record of the duplicate pair";
    InvalidKind = "invalid_kind", Some(Kind::BadRequest), true, &[Surface::Review], "an unknown kind: a visit `kind`, or a review queue filter";
    InvalidLimit = "invalid_limit", Some(Kind::BadRequest), false, &[Surface::Pull, Surface::Bootstrap, Surface::Review, Surface::Audit], "`limit` is outside the range the endpoint allows";
    InvalidOption = "invalid_option", None, true, &[], "an answer that is not one of the item's option codes";
    InvalidPackageCode = "invalid_package_code", Some(Kind::Invalid), false, &[Surface::Import], "a package code that is not 2–16 of `A–Z 0–9 _`";
    InvalidPackageKind = "invalid_package_kind", Some(Kind::Invalid), false, &[Surface::Import], "a package kind that is not `basic` or `personalised`";
    InvalidPage = "invalid_page", Some(Kind::BadRequest), false, &[Surface::Bootstrap], "the page token was damaged or not issued by this server: follow the re-sync procedure";
    InvalidPath = "invalid_path", Some(Kind::BadRequest), false, &[Surface::Every], "a path segment cannot be read";
    InvalidPeriod = "invalid_period", Some(Kind::BadRequest), true, &[Surface::Reports], "a period that cannot be read (in an op: a contract term that cannot be)";
    InvalidPhone = "invalid_phone", None, true, &[], "a phone number that is not 7–20 digits";
    InvalidPrice = "invalid_price", Some(Kind::Invalid), false, &[Surface::Import], "a package price that is not a whole number of fen from zero up";
    InvalidQuery = "invalid_query", Some(Kind::BadRequest), false, &[Surface::Query], "a query parameter cannot be read, or is not one the endpoint takes";
    InvalidReason = "invalid_reason", None, true, &[], "a termination, not-signed or referral reason code that is not in the list";
    InvalidRefreshToken = "invalid_refresh_token", Some(Kind::Unauthorized), false, &[Surface::Auth], "the refresh token is not one this server issued: log in again";
    InvalidRegion = "invalid_region", Some(Kind::BadRequest), false, &[Surface::Review], "a region filter that is not a region code";
    InvalidRegionCode = "invalid_region_code", Some(Kind::Invalid), false, &[Surface::Admin], "a region code that cannot be read";
    InvalidRole = "invalid_role", Some(Kind::Invalid), false, &[Surface::Admin], "a role that does not exist";
    InvalidRows = "invalid_rows", Some(Kind::Invalid), false, &[Surface::Reports], "an upload with refused rows; each row's error is listed";
    InvalidSelfPay = "invalid_self_pay", Some(Kind::Invalid), false, &[Surface::Import], "a self-pay amount that is not a whole number of fen from zero to the price";
    InvalidSex = "invalid_sex", None, true, &[], "`sex` is not `M` or `F`";
    InvalidSha256 = "invalid_sha256", Some(Kind::Invalid), true, &[Surface::Blobs], "a SHA-256 that is not 64 hex characters";
    InvalidStatus = "invalid_status", Some(Kind::BadRequest), true, &[Surface::Review], "an unknown status: a contract's or referral's `to`, or a review queue filter";
    InvalidTeamCode = "invalid_team_code", Some(Kind::Invalid), false, &[Surface::Admin], "a team code that cannot be used";
    InvalidText = "invalid_text", Some(Kind::Invalid), true, &[Surface::Questionnaires, Surface::Admin], "a text field that is empty, too long or holds control characters";
    InvalidTime = "invalid_time", Some(Kind::BadRequest), false, &[Surface::Audit], "a time filter that is not RFC 3339 with an offset";
    InvalidTimestamp = "invalid_timestamp", None, true, &[], "a time that is not RFC 3339 with an offset";
    InvalidToken = "invalid_token", Some(Kind::Unauthorized), false, &[Surface::Bearer], "the access token is not one this server issued: log in again";
    InvalidUsername = "invalid_username", Some(Kind::Invalid), false, &[Surface::Admin], "a user name that cannot be used";
    InvalidVersion = "invalid_version", Some(Kind::Invalid), false, &[Surface::Questionnaires], "a questionnaire version that is not a whole number from 1 up";
    InvalidYear = "invalid_year", Some(Kind::Invalid), false, &[Surface::Reports, Surface::Import], "a year that is not a whole number";
    MalformedBody = "malformed_body", Some(Kind::BadRequest), false, &[Surface::JsonBody, Surface::Reports], "the body could not be read";
    MalformedCsv = "malformed_csv", Some(Kind::BadRequest), false, &[Surface::Reports, Surface::Import], "the CSV cannot be read";
    MalformedJson = "malformed_json", Some(Kind::BadRequest), false, &[Surface::JsonBody], "the body is not valid JSON";
    MalformedOp = "malformed_op", Some(Kind::Invalid), true, &[Surface::Review], "an op without the fields every op has (`op_id`, `entity`, `action`, `id`, `recorded_at`, `data`), or with fields no op has";
    MalformedRow = "malformed_row", Some(Kind::Invalid), false, &[Surface::Reports], "one refused row of an `invalid_rows` upload";
    MissingField = "missing_field", Some(Kind::Invalid), true, &[Surface::Questionnaires, Surface::Review], "a required field is absent; `field` names it";
    MissingToken = "missing_token", Some(Kind::Unauthorized), false, &[Surface::Bearer], "no `Authorization: Bearer` header";
    NoRows = "no_rows", Some(Kind::Invalid), false, &[Surface::Reports], "the upload holds no rows";
    NoVillages = "no_villages", Some(Kind::Invalid), false, &[Surface::Admin], "a team needs at least one village";
    NotFound = "not_found", Some(Kind::NotFound), false, &[Surface::Admin, Surface::Blobs, Surface::Reports, Surface::Residents, Surface::Review], "no such record within the caller's reach";
    NotPending = "not_pending", Some(Kind::Invalid), false, &[Surface::Review], "the contract is no longer held for review";
    NotYetEffective = "not_yet_effective", None, true, &[], "a contract becomes `ACTIVE` only on or after its `effective_from`";
    NotYetExpired = "not_yet_expired", None, true, &[], "a contract becomes `EXPIRED` only after its `effective_to`";
    OpIdReused = "op_id_reused", None, true, &[], "this device already used the `op_id` for another op: nothing stored; send it again with a new `op_id`";
    OpNotKept = "op_not_kept", Some(Kind::Invalid), false, &[Surface::Review], "the quarantined op was larger than quarantine keeps whole: it can only be voided";
    OutOfOrder = "out_of_order", None, true, &[], "a referral's step is dated before the step it follows (received before it was sent)";
    OutOfRange = "out_of_range", None, true, &[], "a measurement outside its plausible range; `field` names it";
    OutOfScope = "out_of_scope", None, true, &[], "the record lies outside the caller's villages or team";
    OutsideScope = "outside_scope", Some(Kind::Forbidden), false, &[Surface::Review], "one of the records lies outside the supervisor's township";
    OwnAccount = "own_account", Some(Kind::Invalid), false, &[Surface::Admin], "an administrator cannot deactivate their own account, reset its password or change its role";
    PackageExists = "package_exists", Some(Kind::Conflict), false, &[Surface::Import], "that package code exists already";
    PasswordChangeRequired = "password_change_required", Some(Kind::Forbidden), false, &[Surface::Bearer], "the password was reset: set a new one with `POST /api/v1/me/password` before anything else";
    PayloadTooLarge = "payload_too_large", Some(Kind::PayloadTooLarge), false, &[Surface::JsonBody, Surface::Blobs, Surface::Reports], "the body is larger than the server takes";
    QueryTimeout = "query_timeout", Some(Kind::Unavailable), false, &[Surface::Reports, Surface::Review, Surface::Audit], "a report, work list or queue read ran longer than the server allows (`JIAYI_REPORT_TIMEOUT_SECS`) and was stopped; nothing was changed: try again after `Retry-After`";
    QuestionnaireExists = "questionnaire_exists", Some(Kind::Conflict), false, &[Surface::Questionnaires], "that questionnaire version exists already with other content";
    RateLimited = "rate_limited", Some(Kind::TooManyRequests), false, &[Surface::Sync], "the device syncs too often: wait `Retry-After` seconds";
    ReapplyFailed = "reapply_failed", Some(Kind::Invalid), false, &[Surface::Review], "a quarantined op was refused again when a supervisor re-applied it";
    RefreshTokenExpired = "refresh_token_expired", Some(Kind::Unauthorized), false, &[Surface::Auth], "the refresh token expired: log in again";
    RefreshTokenReused = "refresh_token_reused", Some(Kind::Unauthorized), false, &[Surface::Auth], "a used refresh token was presented again; every token of the device is revoked: log in again";
    RegionExists = "region_exists", Some(Kind::Conflict), false, &[Surface::Admin], "that region code exists already";
    ResidentDeleted = "resident_deleted", Some(Kind::Invalid), false, &[Surface::Review], "one of the records was deleted";
    ResidentMerged = "resident_merged", None, true, &[], "the resident was merged into another record: the survivor takes the op";
    ResyncRequired = "resync_required", Some(Kind::Conflict), false, &[Surface::Push, Surface::Pull, Surface::Bootstrap], "follow the re-sync procedure: `reason` is `scope_changed` (the cursor or page token belongs to another scope) or `server_restored` (this server was restored from a backup: send the acknowledged ops again)";
    SameItem = "same_item", Some(Kind::Invalid), false, &[Surface::Questionnaires], "the awareness and satisfaction items must be different items";
    SenderUnavailable = "sender_unavailable", Some(Kind::Invalid), false, &[Surface::Review], "the device that sent the op was revoked or its account deactivated";
    ServerBusy = "server_busy", Some(Kind::Unavailable), false, &[Surface::Push], "too many batches at once; nothing was applied: send the same batch again after `Retry-After`";
    StillDuplicate = "still_duplicate", Some(Kind::Invalid), false, &[Surface::Review], "both records carry the same ID number: merge them, or correct the number first";
    StorageFull = "storage_full", Some(Kind::Unavailable), false, &[Surface::Every], "the database's disk is full: nothing of this request was kept; send it again after `Retry-After` (the administrator must free space, docs/operations.md)";
    TeamExists = "team_exists", Some(Kind::Conflict), false, &[Surface::Admin], "that team code exists already";
    TeamNotAllowed = "team_not_allowed", Some(Kind::Invalid), false, &[Surface::Admin], "this role belongs to no team";
    TeamRequired = "team_required", Some(Kind::Invalid), false, &[Surface::Admin], "this role needs a team";
    TokenExpired = "token_expired", Some(Kind::Unauthorized), false, &[Surface::Bearer], "the access token expired: refresh it";
    TooFewOptions = "too_few_options", Some(Kind::Invalid), false, &[Surface::Questionnaires], "an item needs at least two options";
    TooManyAttempts = "too_many_attempts", Some(Kind::TooManyRequests), false, &[Surface::Auth], "too many failed log-ins: wait `Retry-After` seconds";
    TooManyItems = "too_many_items", Some(Kind::Invalid), false, &[Surface::Questionnaires], "the questionnaire has more items than allowed";
    TooManyOps = "too_many_ops", Some(Kind::PayloadTooLarge), false, &[Surface::Push], "the batch holds more ops than allowed: send smaller batches";
    TooManyOptions = "too_many_options", Some(Kind::Invalid), false, &[Surface::Questionnaires], "an item has more options than allowed";
    TransitionNotAllowed = "transition_not_allowed", None, true, &[], "the caller's role may not make this transition";
    UnknownContract = "unknown_contract", Some(Kind::Invalid), true, &[Surface::Review], "no such contract within the caller's reach";
    UnknownEntity = "unknown_entity", None, true, &[], "`entity` is not one the protocol knows";
    UnknownItem = "unknown_item", Some(Kind::Invalid), true, &[Surface::Questionnaires], "an answer or item code the questionnaire version does not have";
    UnknownOption = "unknown_option", Some(Kind::Invalid), false, &[Surface::Questionnaires], "the scoring names an option the item does not have";
    UnknownPackage = "unknown_package", None, true, &[], "a package code that is not in the county's catalog";
    UnknownParentRegion = "unknown_parent_region", Some(Kind::Invalid), false, &[Surface::Admin], "the parent region does not exist";
    UnknownQuestionnaire = "unknown_questionnaire", None, true, &[], "no such questionnaire version: fetch `GET /api/v1/questionnaires`";
    UnknownRecord = "unknown_record", None, true, &[], "no such record within the caller's reach for this edit or delete";
    UnknownReference = "unknown_reference", Some(Kind::Invalid), true, &[Surface::Admin], "the record refers to one that does not exist";
    UnknownReferral = "unknown_referral", None, true, &[], "no such referral within the caller's reach (a transition's `id`, an amendment's `amends`)";
    UnknownRegion = "unknown_region", Some(Kind::Invalid), true, &[Surface::Admin, Surface::Reports, Surface::Import], "no such region (in an op: the `village_code` moved to)";
    UnknownResident = "unknown_resident", Some(Kind::Invalid), true, &[Surface::Review], "no such resident within the caller's reach";
    UnknownSurvey = "unknown_survey", None, true, &[], "the response named by `amends` does not exist for this resident";
    UnknownTag = "unknown_tag", None, true, &[], "a tag code that is not in the list";
    UnknownTeam = "unknown_team", Some(Kind::Invalid), false, &[Surface::Admin], "no such team";
    UnknownVersion = "unknown_version", None, true, &[], "`base_version` is not a version of this resident";
    UnknownVisit = "unknown_visit", None, true, &[], "the visit named by `amends` does not exist for this resident";
    UnsupportedAction = "unsupported_action", None, true, &[], "the entity does not take this `action`";
    UnsupportedBlobType = "unsupported_blob_type", Some(Kind::UnsupportedMediaType), false, &[Surface::Blobs], "the blob's `Content-Type` is not one of the accepted image and PDF types";
    UnsupportedMediaType = "unsupported_media_type", Some(Kind::UnsupportedMediaType), false, &[Surface::JsonBody, Surface::Reports], "the body's `Content-Type` is not the one the endpoint takes";
    UnsupportedProtocol = "unsupported_protocol", Some(Kind::UpgradeRequired), false, &[Surface::Sync], "send `X-Sync-Protocol` with a version the server speaks";
    UseAmend = "use_amend", None, true, &[], "a visit, survey or referral is never edited: send an `amend` with the corrected record";
    UsernameTaken = "username_taken", Some(Kind::Conflict), false, &[Surface::Admin], "that user name is taken";
    WeakPassword = "weak_password", Some(Kind::Invalid), false, &[Surface::Admin, Surface::Account], "the password breaks the password rules (length, not the username, not one repeated character)";
    WriteClash = "write_clash", Some(Kind::Unavailable), false, &[Surface::Every], "a concurrent write clashed with this one; nothing was kept: send the same request again after `Retry-After`";
    WrongPassword = "wrong_password", Some(Kind::Invalid), false, &[Surface::Account], "the current password given is not the account's";
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The entry for `code`.
pub fn lookup(code: &str) -> Option<&'static ErrorCode> {
    CODES.iter().find(|c| c.code() == code)
}

/// The HTTP status of a kind.
pub fn status(kind: Kind) -> u16 {
    kind.status()
}

/// The codes answered on any of `surfaces`, in alphabetical order.
pub fn answered_on(surfaces: &[Surface]) -> Vec<&'static ErrorCode> {
    CODES
        .iter()
        .filter(|c| c.surfaces.iter().any(|s| surfaces.contains(s)))
        .collect()
}

/// The codes a push answers as one op's refusal, in alphabetical order.
pub fn push_refusals() -> Vec<&'static ErrorCode> {
    CODES.iter().filter(|c| c.push_op).collect()
}

/// The endpoints a tablet calls, with the surfaces whose codes each can answer.
pub const TABLET_ENDPOINTS: &[(&str, &[Surface])] = &[
    (
        "`POST /auth/login`, `POST /auth/refresh`",
        &[Surface::Every, Surface::JsonBody, Surface::Auth],
    ),
    (
        "`POST /sync/push` (the whole batch)",
        &[
            Surface::Every,
            Surface::Bearer,
            Surface::JsonBody,
            Surface::Sync,
            Surface::Push,
        ],
    ),
    (
        "`GET /sync/pull`",
        &[
            Surface::Every,
            Surface::Bearer,
            Surface::Query,
            Surface::Sync,
            Surface::Pull,
        ],
    ),
    (
        "`GET /sync/bootstrap`",
        &[
            Surface::Every,
            Surface::Bearer,
            Surface::Query,
            Surface::Sync,
            Surface::Bootstrap,
        ],
    ),
    ("`/blobs/…`", &[Surface::Every, Surface::Bearer, Surface::Blobs]),
    ("`GET /questionnaires`", &[Surface::Every, Surface::Bearer]),
];

/// The Markdown block docs/sync-protocol.md carries between its `error-codes` markers.
pub fn markdown() -> String {
    let mut out = String::new();
    out.push_str("| endpoint | codes it can answer for the whole request |\n| --- | --- |\n");
    for (endpoint, surfaces) in TABLET_ENDPOINTS {
        let codes: Vec<String> = answered_on(surfaces)
            .iter()
            .map(|c| format!("`{}`", c.code()))
            .collect();
        out.push_str(&format!("| {endpoint} | {} |\n", codes.join(", ")));
    }
    out.push_str(
        "\nA push answers these codes in one op's `rejected` result (`error.code`); the rest of the batch goes on:\n\n",
    );
    let refusals: Vec<String> = push_refusals().iter().map(|c| format!("`{}`", c.code())).collect();
    out.push_str(&refusals.join(", "));
    out.push_str("\n\n| code | HTTP status | refuses one op | meaning |\n| --- | --- | --- | --- |\n");
    for c in CODES {
        let status = c.kind.map(|k| status(k).to_string()).unwrap_or_else(|| "—".into());
        let op = if c.push_op { "yes" } else { "" };
        out.push_str(&format!("| `{}` | {status} | {op} | {} |\n", c.code(), c.meaning));
    }
    out
}
