//! Authentication and authorisation: passwords, tokens, devices, the login throttle, and
//! the one extractor ([`Auth`]) that gives every handler the caller's user, role, device
//! and scope.

pub mod account;
pub mod extractor;
pub mod service;
pub mod throttle;
pub mod tokens;

pub use crate::access::{password, scope, Role, Scope};
pub use crate::domain::device;
pub use extractor::Auth;
