//! The protocol's vocabularies (crates/jiayi-protocol: `vocabulary`): entity and action
//! kinds, contract states, and the review queue's kinds, states and decisions, where the
//! server's code names them, and how it reads them back from the database.

pub use jiayi_protocol::vocabulary::*;

use crate::error::AppError;

/// A vocabulary value read back from `column`. The server wrote it, so text it does not
/// know is corrupt or foreign data: an internal error naming the column and the text,
/// never a panic and never a guess.
pub fn stored<T>(column: &str, text: &str, parse: fn(&str) -> Option<T>) -> Result<T, AppError> {
    parse(text).ok_or_else(|| AppError::internal(format!("{column} holds {text:?}, which is no value it takes")))
}

/// [`stored`] for a nullable column.
pub fn stored_opt<T>(column: &str, text: Option<&str>, parse: fn(&str) -> Option<T>) -> Result<Option<T>, AppError> {
    text.map(|t| stored(column, t, parse)).transpose()
}
