//! What a refused op leaves at rest. Quarantine keeps an op for a supervisor to review and
//! perhaps re-apply, but not a clear ID number or phone, and not more than a bounded size
//! (docs/security.md, "Refused ops at rest").
//!
//! - An `id_number` (any depth) that parses is replaced by the server's kept form
//!   (`KeptId`: keyed hash, mask, birth date and sex, under a MAC), which the resident
//!   create and update paths accept; one that does not parse, or is no string, by its mask.
//! - A `phone` text is replaced by its mask and the number encrypted under a key derived
//!   from the hash secret, so re-applying the op restores it; a non-text `phone` by its mask.
//! - An op whose kept form exceeds `MAX_KEPT_BYTES` keeps only its envelope, a bounded
//!   excerpt, its size and the SHA-256 of what was sent; it can only be voided.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use diesel::prelude::*;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::db::DbConn;
use crate::domain::id_number::{mask_of_18, IdNumber, KeptId};
use crate::domain::resident::mask_phone;
use crate::error::AppError;
use crate::schema::{conflicts, quarantine};

/// The largest kept form of an op stored whole (re-appliable).
pub const MAX_KEPT_BYTES: usize = 64 * 1024;
/// The excerpt of a larger op, bytes of its kept JSON text.
pub const EXCERPT_BYTES: usize = 2 * 1024;
/// An envelope field longer than this is cut.
const ENVELOPE_CHARS: usize = 100;
/// Text longer than this under `phone` is no phone (the rules allow 20): only masked.
const PHONE_CHARS: usize = 32;

const PHONE_PREFIX: &str = "kept-phone:v1:";

/// The text quarantine stores for a refused op: PII kept as above, size bounded.
pub fn kept_form(raw: &Value, secret: &str) -> String {
    let mut kept = raw.clone();
    seal_in(&mut kept, secret);
    let text = kept.to_string();
    if text.len() <= MAX_KEPT_BYTES {
        return text;
    }
    let mut out = Map::new();
    for key in ["op_id", "entity", "action", "id", "base_version", "recorded_at"] {
        match raw.get(key) {
            Some(Value::String(s)) => {
                out.insert(key.into(), s.chars().take(ENVELOPE_CHARS).collect::<String>().into());
            }
            Some(n @ Value::Number(_)) => {
                out.insert(key.into(), n.clone());
            }
            _ => {}
        }
    }
    let mut cut = EXCERPT_BYTES;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let original = raw.to_string();
    out.insert(
        "not_kept".into(),
        serde_json::json!({
            "bytes": original.len(),
            "sha256": hex::encode(Sha256::digest(original.as_bytes())),
            "excerpt": &text[..cut],
        }),
    );
    Value::Object(out).to_string()
}

/// Rewrites stored ops into their kept form where they are not yet (ops quarantined by
/// an older version, verbatim), and the phones of field clashes; answers how many rows
/// changed. Keeping is idempotent, so a
/// row already kept is left as it is.
pub fn rewrite_stored(conn: &mut DbConn, secret: &str) -> Result<usize, AppError> {
    let rows: Vec<(String, String)> = quarantine::table
        .filter(quarantine::raw.like("%id_number%").or(quarantine::raw.like("%phone%")))
        .select((quarantine::id, quarantine::raw))
        .load(conn)?;
    let mut changed = 0;
    for (id, raw) in rows {
        let Ok(v) = serde_json::from_str::<Value>(&raw) else {
            continue;
        };
        let kept = kept_form(&v, secret);
        if kept != raw {
            diesel::update(quarantine::table.find(&id))
                .set(quarantine::raw.eq(kept))
                .execute(conn)?;
            changed += 1;
        }
    }
    // Field clashes on a phone, recorded before conflicts kept phones this way.
    let rows: Vec<(String, Option<String>, Option<String>)> = conflicts::table
        .filter(
            conflicts::server_value
                .like("%phone%")
                .or(conflicts::client_value.like("%phone%")),
        )
        .select((conflicts::id, conflicts::server_value, conflicts::client_value))
        .load(conn)?;
    let keep = |v: &Option<String>| -> Option<String> {
        let parsed = serde_json::from_str::<Value>(v.as_deref()?).ok()?;
        Some(sealed(&parsed, secret).to_string())
    };
    for (id, server, client) in rows {
        let (s, c) = (keep(&server).or(server.clone()), keep(&client).or(client.clone()));
        if s != server || c != client {
            diesel::update(conflicts::table.find(&id))
                .set((conflicts::server_value.eq(s), conflicts::client_value.eq(c)))
                .execute(conn)?;
            changed += 1;
        }
    }
    Ok(changed)
}

/// A value with its ID numbers and phones kept as above, whatever its size (conflict
/// records: field clashes keep the losing phone of either side).
pub fn sealed(v: &Value, secret: &str) -> Value {
    let mut kept = v.clone();
    seal_in(&mut kept, secret);
    kept
}

/// Whether a stored op was too large to keep whole.
pub fn is_excerpt(stored: &Value) -> bool {
    stored.get("not_kept").is_some()
}

/// A stored op as it is re-applied: the phones it kept encrypted in clear again. ID
/// numbers stay in their kept form, which the resident paths accept.
pub fn reopened(stored: &Value, secret: &str) -> Value {
    let mut v = stored.clone();
    open_in(&mut v, secret);
    v
}

/// The mask a kept phone carries (display; no secret needed).
pub fn kept_phone_mask(s: &str) -> Option<String> {
    let rest = s.strip_prefix(PHONE_PREFIX)?;
    rest.split(':').next().map(str::to_string)
}

fn seal_in(v: &mut Value, secret: &str) {
    match v {
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                match k.as_str() {
                    "id_number" => seal_id(x, secret),
                    "phone" => seal_phone_value(x, secret),
                    _ => seal_in(x, secret),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| seal_in(x, secret)),
        _ => {}
    }
}

fn seal_id(v: &mut Value, secret: &str) {
    match v {
        Value::String(s) if KeptId::mask_in(s).is_some() => {}
        Value::String(s) => {
            *v = match IdNumber::parse(s) {
                Ok(id) => KeptId::seal(&id, secret).into(),
                Err(_) => id_mask(s).into(),
            }
        }
        Value::Number(n) => *v = id_mask(&n.to_string()).into(),
        Value::Array(a) => a.iter_mut().for_each(|x| seal_id(x, secret)),
        Value::Object(o) => o.values_mut().for_each(|x| seal_id(x, secret)),
        _ => {}
    }
}

fn id_mask(s: &str) -> String {
    match s.chars().count() {
        18 => mask_of_18(s),
        n => "*".repeat(n.min(18)),
    }
}

fn seal_phone_value(v: &mut Value, secret: &str) {
    match v {
        Value::String(s) if s.starts_with(PHONE_PREFIX) || is_masked(s) => {}
        Value::String(s) if s.chars().count() <= PHONE_CHARS => *v = seal_phone(s, secret).into(),
        Value::String(s) => *v = mask_phone(s).into(),
        Value::Number(n) => *v = mask_phone(&n.to_string()).into(),
        Value::Array(a) => a.iter_mut().for_each(|x| seal_phone_value(x, secret)),
        Value::Object(o) => o.values_mut().for_each(|x| seal_phone_value(x, secret)),
        _ => {}
    }
}

/// Text that is a phone mask already: masking it again, its stars read as hidden digits,
/// gives it back. (Anything else is masked, which can only hide more.)
pub fn is_masked(s: &str) -> bool {
    s.contains('*') && mask_phone(&s.replace('*', "0")) == s
}

fn open_in(v: &mut Value, secret: &str) {
    match v {
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                if k == "phone" {
                    open_all(x, secret);
                } else {
                    open_in(x, secret);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| open_in(x, secret)),
        _ => {}
    }
}

/// Opens every kept phone inside a value found under `phone`.
fn open_all(v: &mut Value, secret: &str) {
    match v {
        Value::String(s) => {
            if let Some(clear) = open_phone(s, secret) {
                *v = clear.into();
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| open_all(x, secret)),
        Value::Object(o) => o.values_mut().for_each(|x| open_all(x, secret)),
        _ => {}
    }
}

type HmacSha256 = Hmac<Sha256>;

fn subkey(secret: &str, purpose: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(purpose);
    mac.finalize().into_bytes().into()
}

fn phone_cipher(secret: &str) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(&subkey(secret, b"jiayi kept phone key").into())
}

/// `kept-phone:v1:<mask>:<nonce>:<ciphertext with its tag>` (hex): XChaCha20-Poly1305
/// under a key derived from the hash secret, with a random nonce (long enough that random
/// nonces never repeat in practice).
fn seal_phone(p: &str, secret: &str) -> String {
    let mut nonce = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut nonce);
    let ct = phone_cipher(secret)
        .encrypt(&XNonce::from(nonce), p.as_bytes())
        .expect("a phone's few bytes are far below the cipher's limit");
    format!(
        "{PHONE_PREFIX}{}:{}:{}",
        mask_phone(p),
        hex::encode(nonce),
        hex::encode(ct)
    )
}

fn open_phone(s: &str, secret: &str) -> Option<String> {
    let mut parts = s.strip_prefix(PHONE_PREFIX)?.split(':');
    let (_, nonce, ct) = (parts.next()?, parts.next()?, parts.next()?);
    let (nonce, ct) = (hex::decode(nonce).ok()?, hex::decode(ct).ok()?);
    let nonce: [u8; 24] = nonce.try_into().ok()?;
    if parts.next().is_some() {
        return None;
    }
    let clear = phone_cipher(secret).decrypt(&XNonce::from(nonce), ct.as_slice()).ok()?;
    String::from_utf8(clear).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "a test secret of some thirty-two characters";

    #[test]
    fn ids_and_phones_of_any_type_leave_no_clear_digits_and_phones_come_back() {
        let raw: Value = serde_json::from_str(
            r#"{ "op_id": "x", "data": { "id_number": "431126198001011235", "phone": "13800138000",
                 "n": { "id_number": 431126198001011235, "phone": 13912345678 },
                 "list": [{ "phone": ["84561234"] }], "name": "张三" } }"#,
        )
        .unwrap();
        let kept = kept_form(&raw, SECRET);
        for clear in ["431126198001011235", "13800138000", "13912345678", "84561234"] {
            assert!(!kept.contains(clear), "{clear} in {kept}");
        }
        let stored: Value = serde_json::from_str(&kept).unwrap();
        assert_eq!(kept_form(&stored, SECRET), kept, "keeping again changes nothing");
        let back = reopened(&stored, SECRET);
        assert_eq!(back["data"]["phone"], "13800138000");
        assert_eq!(back["data"]["list"][0]["phone"][0], "84561234");
        assert_eq!(back["data"]["name"], "张三");
        assert_eq!(
            KeptId::mask_in(back["data"]["id_number"].as_str().unwrap()).unwrap(),
            "****************3*"
        );
        assert_eq!(
            kept_phone_mask(stored["data"]["phone"].as_str().unwrap()).unwrap(),
            "138******00"
        );
        assert!(is_masked("138******00") && is_masked("84****34"));
        assert!(!is_masked("13800138000") && !is_masked("13800138000***********"));
        // Another secret opens nothing.
        assert!(reopened(&stored, "another secret")["data"]["phone"]
            .as_str()
            .unwrap()
            .starts_with(PHONE_PREFIX));
    }

    #[test]
    fn a_sealed_phone_opens_only_as_it_was_sealed() {
        let sealed = seal_phone("13800138000", SECRET);
        assert_eq!(open_phone(&sealed, SECRET).as_deref(), Some("13800138000"));
        assert_ne!(sealed, seal_phone("13800138000", SECRET), "a fresh nonce each time");
        // One changed hex digit of the ciphertext (the last part) fails the tag.
        let mut bytes = sealed.into_bytes();
        let last = bytes.len() - 1;
        bytes[last] = if bytes[last] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(open_phone(&tampered, SECRET), None);
        assert_eq!(open_phone(&seal_phone("84561234", SECRET), "another secret"), None);
    }

    #[test]
    fn a_large_op_keeps_its_envelope_an_excerpt_and_a_digest() {
        let junk = "字".repeat(4 * 1024 * 1024);
        let raw = serde_json::json!({ "op_id": "0190", "entity": "visit", "action": "create",
            "id": "v".repeat(5000), "data": { "notes": junk, "phone": "13800138000" } });
        let kept = kept_form(&raw, SECRET);
        assert!(kept.len() < EXCERPT_BYTES + 1024, "{}", kept.len());
        let stored: Value = serde_json::from_str(&kept).unwrap();
        assert!(is_excerpt(&stored));
        assert_eq!(stored["entity"], "visit");
        assert_eq!(stored["id"].as_str().unwrap().len(), ENVELOPE_CHARS);
        assert_eq!(stored["not_kept"]["bytes"], raw.to_string().len());
        assert_eq!(
            stored["not_kept"]["sha256"],
            hex::encode(Sha256::digest(raw.to_string().as_bytes()))
        );
        assert!(!kept.contains("13800138000"));
    }
}
