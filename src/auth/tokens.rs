//! Access tokens (JWT, HS256) and refresh tokens (random, stored only as a SHA-256).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use jsonwebtoken::{decode, encode, errors::ErrorKind, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::AppError;
use crate::error_codes::Code;

/// The claims of an access token.
#[derive(Debug, Serialize, Deserialize, Clone)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// The server's id of the device the token was issued to (`devices.id`).
    pub dev: String,
    /// The device's token generation at issue; a refresh-token reuse moves it on, which
    /// ends every access token issued before. Tokens from before it existed read as 0.
    #[serde(default)]
    pub gen: i64,
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
    refresh_key: Vec<u8>,
}

impl Keys {
    /// Keys from the JWT secret.
    pub fn new(secret: &str) -> Keys {
        Keys {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            refresh_key: secret.as_bytes().to_vec(),
        }
    }

    /// The refresh token a refresh issues in exchange for `parent`: derived from it under
    /// the secret, so that a retry of the same refresh can be answered with the same token
    /// while only its hash is stored.
    pub fn child_refresh_token(&self, parent: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.refresh_key).expect("HMAC takes any key");
        mac.update(b"jiayi refresh-token child\0");
        mac.update(parent.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
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
                    AppError::unauthorized(Code::TokenExpired, "the access token has expired; refresh it")
                }
                _ => AppError::unauthorized(Code::InvalidToken, "the access token is not valid"),
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
