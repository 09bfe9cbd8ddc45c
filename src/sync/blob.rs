//! Blobs: signature images and photos, stored once by SHA-256. A record may name a blob
//! before it arrives; such records are listed as incomplete until it does.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::access::{Caller, Scope};
use crate::db::DbConn;
use crate::domain::{audit, validate};
use crate::error::{AppError, Kind};
use crate::error_codes::Code;
use crate::schema::{blobs, contracts};
use crate::time::now_ms;

/// Content types a blob may have: signature images, photos and scanned paper forms. Anything
/// else is refused, so that what a reader downloads is only ever what the protocol names.
pub const CONTENT_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/webp", "application/pdf"];

/// The accepted content type a `Content-Type` header names (parameters and case aside), or
/// 415 `unsupported_blob_type`.
pub fn content_type(header: &str) -> Result<&'static str, AppError> {
    let essence = header.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    CONTENT_TYPES.iter().find(|t| **t == essence).copied().ok_or_else(|| {
        AppError::new(
            Kind::UnsupportedMediaType,
            Code::UnsupportedBlobType,
            format!("a blob's Content-Type is one of: {}", CONTENT_TYPES.join(", ")),
        )
        .with_field("Content-Type")
    })
}

/// Stores a blob after checking its hash. `Ok(true)` when new, `Ok(false)` when already present.
pub fn put(conn: &mut DbConn, auth: &Caller, sha256: &str, bytes: &[u8], content_type: &str) -> Result<bool, AppError> {
    let sha = validate::sha256(sha256, "sha256")?;
    if bytes.is_empty() {
        return Err(AppError::invalid(Code::EmptyBlob, "body", "the blob is empty"));
    }
    let actual = hex::encode(Sha256::digest(bytes));
    if actual != sha {
        return Err(AppError::invalid(
            Code::HashMismatch,
            "sha256",
            "the body's SHA-256 differs from the one in the path",
        ));
    }
    let content_type = self::content_type(content_type)?;
    let present: i64 = blobs::table.find(&sha).count().get_result(conn)?;
    if present > 0 {
        return Ok(false);
    }
    let inserted = diesel::insert_into(blobs::table)
        .values((
            blobs::sha256.eq(&sha),
            blobs::size.eq(bytes.len() as i64),
            blobs::content_type.eq(content_type),
            blobs::data.eq(bytes),
            blobs::county_code.eq(&auth.county_code),
            blobs::uploaded_by.eq(&auth.user_id),
            blobs::created_at.eq(now_ms()),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => {}
        // Two tablets uploading the same bytes at once: the other one won.
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            return Ok(false)
        }
        Err(e) => return Err(e.into()),
    }
    audit::record_now(conn, audit::Entry::actor(auth, "blob_uploaded").entity("blob", &sha))?;
    Ok(true)
}

/// Is the blob stored? (Knowing a hash implies knowing the content, so this leaks nothing.)
pub fn exists(conn: &mut DbConn, sha256: &str) -> Result<bool, AppError> {
    let sha = validate::sha256(sha256, "sha256")?;
    Ok(blobs::table.find(&sha).count().get_result::<i64>(conn)? > 0)
}

/// A blob's bytes and type, for its uploader or a reader of a record in scope naming it.
pub fn get(conn: &mut DbConn, auth: &Caller, sha256: &str) -> Result<(Vec<u8>, String), AppError> {
    let sha = validate::sha256(sha256, "sha256")?;
    let row: Option<(Vec<u8>, String, String)> = blobs::table
        .find(&sha)
        .select((blobs::data, blobs::content_type, blobs::uploaded_by))
        .first(conn)
        .optional()?;
    let Some((data, content_type, uploader)) = row else {
        return Err(AppError::not_found("blob"));
    };
    let referencing: Vec<String> = contracts::table
        .filter(contracts::county_code.eq(&auth.county_code))
        .filter(contracts::signature_sha256.eq(&sha))
        .select(contracts::village_code)
        .load(conn)?;
    if uploader == auth.user_id || referencing.iter().any(|v| auth.scope.covers_village(v)) {
        Ok((data, content_type))
    } else {
        Err(AppError::not_found("blob"))
    }
}

/// A record that names a blob the server does not have yet.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MissingBlob {
    /// Entity kind.
    pub entity: String,
    /// Entity id.
    pub id: String,
    /// The blob it names.
    pub sha256: String,
}

/// Records in the caller's scope whose blobs have not arrived.
pub fn missing(conn: &mut DbConn, auth: &Caller) -> Result<Vec<MissingBlob>, AppError> {
    let mut q = contracts::table
        .left_join(blobs::table.on(blobs::sha256.nullable().eq(contracts::signature_sha256)))
        .filter(contracts::county_code.eq(&auth.county_code))
        .filter(contracts::deleted.eq(false))
        .filter(contracts::signature_sha256.is_not_null())
        .filter(blobs::sha256.nullable().is_null())
        .select((contracts::id, contracts::signature_sha256.assume_not_null()))
        .order(contracts::id)
        .limit(5000)
        .into_boxed();
    q = match &auth.scope {
        Scope::Team { villages, .. } => q.filter(contracts::village_code.eq_any(villages.clone())),
        Scope::Township(t) => q.filter(contracts::village_code.like(format!("{}%", &t[..9]))),
        Scope::County(_) => q,
    };
    let rows: Vec<(String, String)> = q.load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, sha256)| MissingBlob {
            entity: "contract".into(),
            id,
            sha256,
        })
        .collect())
}

/// Deletes blobs nothing references that were uploaded more than `grace_ms` before `now`,
/// and answers how many. A blob is referenced by a contract naming it (deleted or not: its
/// history shows the signature) or by an open quarantined op mentioning its hash (a
/// supervisor may re-apply it). The grace lets a tablet upload a signature before pushing
/// the contract that names it, and be offline in between (docs/operations.md).
pub fn collect_unreferenced(conn: &mut DbConn, now: i64, grace_ms: i64) -> Result<usize, AppError> {
    let open = crate::vocabulary::ItemStatus::Open.as_str();
    crate::db::raw::execute(
        conn,
        &format!(
            "DELETE FROM blobs WHERE created_at < ? \
             AND NOT EXISTS (SELECT 1 FROM contracts c WHERE c.signature_sha256 = blobs.sha256) \
             AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.status = '{open}' \
                             AND q.raw LIKE '%' || blobs.sha256 || '%')"
        ),
        &[(now - grace_ms).into()],
    )
}
