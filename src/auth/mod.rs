//! Authentication and authorisation: passwords, tokens, devices, the login throttle, and
//! the one extractor ([`Auth`]) that gives every handler the caller's user, role, device
//! and scope.

pub mod device;
pub mod extractor;
pub mod password;
pub mod scope;
pub mod service;
pub mod throttle;
pub mod tokens;

pub use extractor::Auth;
pub use scope::{Role, Scope};
