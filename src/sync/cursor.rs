//! Pull cursors: opaque to the tablet, signed by the server, bound to the scope they were
//! issued for. Format: `v1.<position>.<scope hash>.<mac>`, all URL-safe.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::access::Scope;
use crate::error::AppError;
use crate::error_codes::Code;

/// A short hash of a scope, bound into cursors and bootstrap page tokens.
pub(crate) fn scope_hash(scope: &Scope) -> String {
    hex::encode(&Sha256::digest(scope.fingerprint().as_bytes())[..8])
}

fn mac(secret: &str, body: &str) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    m.update(b"jiayi-cursor:");
    m.update(body.as_bytes());
    hex::encode(&m.finalize().into_bytes()[..16])
}

/// Appends a MAC to `body`.
pub(crate) fn sign(secret: &str, body: &str) -> String {
    format!("{body}.{}", mac(secret, body))
}

/// Checks a signed token and returns its body; `None` if forged or garbled.
pub(crate) fn verify<'a>(secret: &str, token: &'a str) -> Option<&'a str> {
    let (body, sig) = token.rsplit_once('.')?;
    let expected = mac(secret, body);
    // Constant-time comparison of the MACs.
    let same = sig.len() == expected.len() && sig.bytes().zip(expected.bytes()).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0;
    same.then_some(body)
}

/// Encodes a position for a scope (the form before marks; still accepted).
pub fn encode(secret: &str, scope: &Scope, position: i64) -> String {
    sign(secret, &format!("v1.{position}.{}", scope_hash(scope)))
}

/// Encodes a position for a scope with the database's mark at that position
/// (`ledger::mark_at`): `v2.<position>.<mark>.<scope hash>.<mac>`.
pub fn encode_marked(secret: &str, scope: &Scope, position: i64, mark: &str) -> String {
    sign(secret, &format!("v2.{position}.{mark}.{}", scope_hash(scope)))
}

/// A decoded cursor: its position, and the mark it was issued with (`None` for a cursor
/// issued before marks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The change-log position.
    pub position: i64,
    /// The database's mark at that position when the cursor was issued.
    pub mark: Option<String>,
}

/// Decodes a cursor of either form (`v1.<position>.<scope hash>` issued before marks,
/// `v2.<position>.<mark>.<scope hash>`). A forged or garbled cursor is a 400; a genuine
/// cursor of another scope (or of this caller before their scope changed) is a 409
/// `resync_required`.
pub fn decode_marked(secret: &str, scope: &Scope, cursor: &str) -> Result<Decoded, AppError> {
    let bad = || {
        AppError::bad_request(
            Code::InvalidCursor,
            format!("the cursor is not one this server issued; {RESYNC}"),
        )
        .with_field("cursor")
    };
    let body = verify(secret, cursor).ok_or_else(bad)?;
    let parts: Vec<&str> = body.split('.').collect();
    let (pos, mark, hash) = match parts.as_slice() {
        ["v1", pos, hash] => (*pos, None, *hash),
        ["v2", pos, mark, hash] if !mark.is_empty() && mark.bytes().all(|b| b.is_ascii_hexdigit()) => {
            (*pos, Some(mark.to_string()), *hash)
        }
        _ => return Err(bad()),
    };
    let position: i64 = pos.parse().map_err(|_| bad())?;
    if hash != scope_hash(scope) {
        return Err(scope_changed(format!("this cursor belongs to another scope; {RESYNC}")));
    }
    Ok(Decoded { position, mark })
}

/// The answer to a cursor whose position this database holds differently (it was restored
/// from a backup older than the cursor) or not at all.
pub fn other_history() -> AppError {
    AppError::conflict(
        Code::ResyncRequired,
        format!(
            "this cursor names changes this server does not hold (it was restored from a backup); {RESYNC_RESTORED}"
        ),
    )
    .with_reason(SERVER_RESTORED)
}

/// The answer to a pull checkpoint (a push answer's `checkpoint`) whose position this
/// database holds differently or not at all: what the server acknowledged up to it was
/// lost in a restore.
pub fn lost_acknowledged() -> AppError {
    AppError::conflict(
        Code::ResyncRequired,
        format!("this server no longer holds ops it acknowledged to this tablet (it was restored from a backup); {RESYNC_RESTORED}"),
    )
    .with_field("X-Sync-Checkpoint")
    .with_reason(SERVER_RESTORED)
}

/// A `resync_required` for a cursor or page token of another scope (`reason:
/// scope_changed`): the tablet re-syncs and resends nothing it had acknowledged.
pub fn scope_changed(message: String) -> AppError {
    AppError::conflict(Code::ResyncRequired, message).with_reason(SCOPE_CHANGED)
}

/// `reason` of a `resync_required` whose cursor or page token belongs to another scope.
pub const SCOPE_CHANGED: &str = "scope_changed";
/// `reason` of a `resync_required` from a server restored from a backup older than what
/// the tablet holds.
pub const SERVER_RESTORED: &str = "server_restored";

/// What a tablet does after a restore: the re-sync, and the acknowledged ops sent again.
pub const RESYNC_RESTORED: &str = "re-sync: drop the synced records (keep the unsent ops), bootstrap from the first page, push again the ops this server acknowledged before (same op ids, in their order), then the unsent ops";

/// A pull checkpoint (`<position>.<mark>`, a push answer's `checkpoint`): `None` when it
/// cannot be read.
pub fn parse_checkpoint(s: &str) -> Option<(i64, &str)> {
    let (pos, mark) = s.split_once('.')?;
    let position: i64 = pos.parse().ok().filter(|p| *p >= 0)?;
    (!mark.is_empty() && mark.len() <= 32 && mark.bytes().all(|b| b.is_ascii_hexdigit())).then_some((position, mark))
}

/// The checkpoint of a position and its mark.
pub fn checkpoint(position: i64, mark: &str) -> String {
    format!("{position}.{mark}")
}

/// What a tablet does when its cursor or page token is refused: the one re-sync procedure
/// of docs/sync-protocol.md, named in every such error's message.
pub const RESYNC: &str =
    "re-sync: drop the synced records (keep the unsent ops), bootstrap from the first page, then push the unsent ops";

/// The position of a cursor of either form; see [`decode_marked`] for what is refused.
pub fn decode(secret: &str, scope: &Scope, cursor: &str) -> Result<i64, AppError> {
    decode_marked(secret, scope, cursor).map(|d| d.position)
}

/// Checks a tablet's checkpoint (`X-Sync-Checkpoint`, the newest push answer's
/// `checkpoint`): this database must hold the same change at its position, else it was
/// restored from a backup older than what it acknowledged to the tablet, and the answer
/// is 409 `resync_required` with `reason: server_restored` (docs/sync-protocol.md §3).
pub fn check_checkpoint(conn: &mut crate::db::DbConn, checkpoint: &str) -> Result<(), AppError> {
    let (position, mark) = parse_checkpoint(checkpoint).ok_or_else(|| {
        AppError::bad_request(
            crate::error_codes::Code::InvalidCursor,
            "X-Sync-Checkpoint is not a checkpoint this server gave (`<position>.<mark>`): send the one from the newest push answer",
        )
        .with_field("X-Sync-Checkpoint")
    })?;
    if position > crate::ledger::head(conn)? || crate::ledger::mark_at(conn, position)? != mark {
        return Err(lost_acknowledged());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn checkpoints_round_trip_and_junk_is_refused() {
        assert_eq!(
            super::parse_checkpoint(&super::checkpoint(42, "a1b2")),
            Some((42, "a1b2"))
        );
        assert_eq!(super::parse_checkpoint("0.0"), Some((0, "0")));
        for junk in ["", ".", "42", "42.", ".ab", "-1.ab", "x.ab", "42.zz", "42.ab.cd"] {
            assert_eq!(super::parse_checkpoint(junk), None, "{junk}");
        }
    }

    use super::*;

    fn team(v: &[&str]) -> Scope {
        Scope::Team {
            team_id: "t".into(),
            villages: v.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn round_trips_and_refuses_tampering_and_other_scopes() {
        let s = team(&["431126100201"]);
        let c = encode("k", &s, 42);
        assert_eq!(decode("k", &s, &c).unwrap(), 42);
        assert_eq!(decode("other-key", &s, &c).unwrap_err().code, Code::InvalidCursor);
        let forged = c.replace("v1.42.", "v1.41.");
        assert_eq!(decode("k", &s, &forged).unwrap_err().code, Code::InvalidCursor);
        assert_eq!(
            decode("k", &team(&["431126100202"]), &c).unwrap_err().code,
            Code::ResyncRequired
        );
        for junk in ["", ".", "v1", "v1.x.y.z", "💥.💥", "v1.1.2.3.4"] {
            assert!(decode("k", &s, junk).is_err());
        }
    }

    #[test]
    fn marked_cursors_round_trip_and_older_cursors_still_decode() {
        let s = team(&["431126100201"]);
        let c = encode_marked("k", &s, 42, "a1b2c3");
        let d = decode_marked("k", &s, &c).unwrap();
        assert_eq!((d.position, d.mark.as_deref()), (42, Some("a1b2c3")));
        let old = encode("k", &s, 7);
        assert_eq!(
            decode_marked("k", &s, &old).unwrap(),
            Decoded {
                position: 7,
                mark: None
            }
        );
        assert_eq!(
            decode_marked("k", &team(&["431126100202"]), &c).unwrap_err().code,
            Code::ResyncRequired
        );
        let forged = c.replace("a1b2c3", "a1b2c4");
        assert_eq!(decode_marked("k", &s, &forged).unwrap_err().code, Code::InvalidCursor);
        let other = decode_marked("k", &team(&["431126100202"]), &c).unwrap_err();
        assert_eq!(other.detail().reason.as_deref(), Some(SCOPE_CHANGED));
        assert_eq!(other_history().detail().reason.as_deref(), Some(SERVER_RESTORED));
        for junk in ["v2.1..h", "v2.x.ab.h", "v2.1.zz.h", "v2.1.ab.h.extra"] {
            assert!(decode_marked("k", &s, &sign("k", junk)).is_err(), "{junk}");
        }
    }
}
