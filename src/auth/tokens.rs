//! Access tokens (JWT, HS256) and refresh tokens (random, stored only as a SHA-256).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{decode, encode, errors::ErrorKind, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::AppError;

/// The claims of an access token.
#[derive(Debug, Serialize, Deserialize, Clone)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// Device id the token was issued to.
    pub dev: String,
    /// Role code at issue time (the database is checked again on every request).
    pub role: String,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
}

/// Signing keys derived from the configured secret.
#[derive(Clone)]
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl Keys {
    /// Keys from the JWT secret.
    pub fn new(secret: &str) -> Keys {
        Keys {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
        }
    }

    /// Signs an access token.
    pub fn access_token(&self, claims: &Claims) -> Result<String, AppError> {
        encode(&Header::new(Algorithm::HS256), claims, &self.encoding).map_err(AppError::internal)
    }

    /// Verifies an access token's signature and expiry.
    pub fn verify_access(&self, token: &str) -> Result<Claims, AppError> {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 5;
        v.set_required_spec_claims(&["exp", "sub"]);
        decode::<Claims>(token, &self.decoding, &v)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => {
                    AppError::unauthorized("token_expired", "the access token has expired; refresh it")
                }
                _ => AppError::unauthorized("invalid_token", "the access token is not valid"),
            })
    }
}

/// A new random refresh token (256 bits, URL-safe).
pub fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of a refresh token.
pub fn hash_refresh_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
