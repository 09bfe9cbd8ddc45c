//! Reading an op: its `data` as the entity's wire type (a refusal names the field), and
//! ids as stored.

use super::*;
use crate::error::is_name;

/// An op's `data` as the entity's wire type; a mismatch is a per-op refusal naming the
/// field: `missing_field` for an absent required one, `invalid_field` otherwise.
pub(super) fn parse<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> Result<T, AppError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let inner = e.inner().to_string();
        let message = crate::error::without_quoted_values(&inner);
        let at = data_path(e.path());
        let missing = inner
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(name, _)| name)
            .filter(|name| is_name(name));
        match (missing, at) {
            (Some(name), None) => AppError::invalid(Code::MissingField, name, message),
            (Some(name), Some(at)) => AppError::invalid(Code::MissingField, format!("{at}.{name}"), message),
            (None, at) => AppError::invalid(Code::InvalidField, at.unwrap_or_else(|| "data".into()), message),
        }
    })
}

/// The path of a mismatch inside `data` (`measurements.systolic`, `tags[2]`), keys that
/// are not names blanked; `None` at the top.
pub(super) fn data_path(path: &serde_path_to_error::Path) -> Option<String> {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(if is_name(key) { key } else { "…" });
            }
            Segment::Unknown => {}
        }
    }
    (!out.is_empty()).then_some(out)
}

/// An id as stored (canonical UUID text), whatever case the tablet wrote it in; text that
/// is no UUID is returned as it is (the op's rules refuse it).
pub(super) fn canonical(id: &str) -> String {
    uuid::Uuid::parse_str(id)
        .map(|u| u.hyphenated().to_string())
        .unwrap_or_else(|_| id.to_string())
}

/// The entity id of an op as stored.
pub(super) fn result_id(op: &PushOp) -> String {
    canonical(&op.id)
}
