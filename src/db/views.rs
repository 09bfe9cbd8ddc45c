//! The views the migrations create (diesel's schema generator reads tables only).
//! Both are read-only unions over where a record may be kept since the ledger
//! (docs/architecture.md, "The ledger").

diesel::table! {
    /// Every op's record: `applied_ops` (ops that changed nothing) and the ledger rows that
    /// carry an op's first answer. A replay is answered from it.
    op_records (device_id, op_id) {
        device_id -> Nullable<Text>,
        op_id -> Nullable<Text>,
        user_id -> Nullable<Text>,
        county_code -> Text,
        status -> Nullable<Text>,
        result -> Nullable<Text>,
        digest -> Nullable<Text>,
        received_at -> BigInt,
    }
}

diesel::table! {
    /// The audit trail: `audit_log` and the ledger rows that stand for an op's entry.
    audit_trail (id) {
        id -> Nullable<Text>,
        at -> BigInt,
        clinical_at -> Nullable<BigInt>,
        county_code -> Nullable<Text>,
        user_id -> Nullable<Text>,
        device_id -> Nullable<Text>,
        action -> Nullable<Text>,
        entity -> Nullable<Text>,
        entity_id -> Nullable<Text>,
        detail -> Nullable<Text>,
    }
}

use crate::schema::users;

diesel::allow_tables_to_appear_in_same_query!(audit_trail, users);
