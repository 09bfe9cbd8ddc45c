//! The one extractor every protected handler takes: the access token's caller.

use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, http::header, web, FromRequest, HttpRequest};

use crate::access::Caller;
use crate::db;
use crate::domain::caller;
use crate::error::{AppError, Kind};
use crate::error_codes::Code;
use crate::state::AppState;

/// What a caller whose password was reset may still reach: who they are, the change
/// itself, and signing out.
pub const PASSWORD_CHANGE_PATHS: [&str; 3] = ["/api/v1/me", "/api/v1/me/password", "/api/v1/me/sign-out-everywhere"];

/// The authenticated caller, as handlers take it: an [`access::Caller`](Caller) built from
/// the request's access token.
pub type Auth = Caller;

impl FromRequest for Caller {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let path = req.path().to_string();
        let header = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string);
        Box::pin(async move {
            let state = state.ok_or_else(|| AppError::internal("app state missing"))?;
            let token = header
                .as_deref()
                .and_then(|h| h.strip_prefix("Bearer "))
                .ok_or_else(|| {
                    AppError::unauthorized(Code::MissingToken, "send Authorization: Bearer <access token>")
                })?;
            let claims = state.keys.verify_access(token.trim())?;
            let caller = db::run(&state.pool, move |c| {
                caller::load_for_token(c, &claims.sub, &claims.dev, claims.gen)
            })
            .await?;
            if caller.must_change_password && !PASSWORD_CHANGE_PATHS.contains(&path.as_str()) {
                return Err(AppError::new(
                    Kind::Forbidden,
                    Code::PasswordChangeRequired,
                    "the password was reset: set a new one with POST /api/v1/me/password first",
                ));
            }
            Ok(caller)
        })
    }
}
