//! Password hashing (argon2id) and the password rules.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::error::AppError;
use crate::error_codes::Code;

/// Shortest password accepted.
pub const MIN_LEN: usize = 10;
/// Longest password accepted (argon2 cost grows with input).
pub const MAX_LEN: usize = 256;

/// Checks the password rules; `field` names the request field for the error.
pub fn check_rules(password: &str, username: &str, field: &str) -> Result<(), AppError> {
    let chars = password.chars().count();
    if chars < MIN_LEN {
        return Err(AppError::invalid(
            Code::WeakPassword,
            field,
            format!("a password needs at least {MIN_LEN} characters"),
        ));
    }
    if chars > MAX_LEN {
        return Err(AppError::invalid(
            Code::WeakPassword,
            field,
            format!("a password may have at most {MAX_LEN} characters"),
        ));
    }
    if password.eq_ignore_ascii_case(username) {
        return Err(AppError::invalid(
            Code::WeakPassword,
            field,
            "the password must differ from the username",
        ));
    }
    let first = password.chars().next();
    if password.chars().all(|c| Some(c) == first) {
        return Err(AppError::invalid(
            Code::WeakPassword,
            field,
            "the password must not repeat one character",
        ));
    }
    Ok(())
}

/// Argon2 working memory (19 MiB for the default parameters), one buffer per core, kept
/// and reused. Allocating it afresh for every login let the allocator keep a copy in each
/// blocking thread that ever ran one: 500 tablets logging in after a holiday took the
/// server from 160 MB to 560 MB resident. Argon2 is CPU-bound, so more hashes at once
/// than cores would not go faster anyway; a login beyond that waits for a buffer.
fn with_memory<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    static SLOTS: OnceLock<Vec<Mutex<Vec<Block>>>> = OnceLock::new();
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let slots = SLOTS.get_or_init(|| {
        let n = std::thread::available_parallelism().map_or(2, |n| n.get()).min(8);
        (0..n).map(|_| Mutex::new(Vec::new())).collect()
    });
    let start = NEXT.fetch_add(1, Ordering::Relaxed);
    // A free buffer if there is one, else wait for this login's turn on one.
    let mut mem = (0..slots.len())
        .find_map(|i| slots[(start + i) % slots.len()].try_lock().ok())
        .unwrap_or_else(|| slots[start % slots.len()].lock().unwrap_or_else(|p| p.into_inner()));
    if mem.len() < blocks {
        mem.resize(blocks, Block::default());
    }
    f(&mut mem[..blocks])
}

/// Runs argon2 over `password` with the stored hash's algorithm, version, parameters and
/// salt, on pooled memory; the raw output.
fn argon2_output(
    password: &str,
    alg: Algorithm,
    version: Version,
    params: &Params,
    salt: &[u8],
    out: &mut [u8],
) -> bool {
    let argon = Argon2::new(alg, version, params.clone());
    with_memory(params.block_count(), |mem| {
        argon
            .hash_password_into_with_memory(password.as_bytes(), salt, out, mem)
            .is_ok()
    })
}

/// Hashes a password with argon2id and a random salt (PHC string).
pub fn hash(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    let params = Params::default();
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf).map_err(AppError::internal)?;
    let mut out = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    if !argon2_output(
        password,
        Algorithm::Argon2id,
        Version::V0x13,
        &params,
        salt_bytes,
        &mut out,
    ) {
        return Err(AppError::internal("argon2 failed"));
    }
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(AppError::internal)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(AppError::internal)?),
    };
    Ok(phc.to_string())
}

/// Verifies a password against a stored PHC string (in constant time over the output).
pub fn verify(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else {
        return false;
    };
    let (Ok(alg), Ok(params)) = (Algorithm::try_from(parsed.algorithm), Params::try_from(&parsed)) else {
        return false;
    };
    let Ok(version) = parsed.version.map_or(Ok(Version::V0x13), Version::try_from) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    if !argon2_output(password, alg, version, &params, salt_bytes, &mut out) {
        return false;
    }
    // `Output` compares in constant time.
    Output::new(&out).is_ok_and(|o| o == expected)
}

/// A hash to verify against when the user does not exist, so that unknown usernames take
/// as long as wrong passwords.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash("decoy-password-never-matches").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    #[test]
    fn pooled_hashing_matches_the_standard_argon2id_both_ways() {
        let mine = hash("correct horse battery").unwrap();
        assert!(mine.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{mine}");
        assert!(verify("correct horse battery", &mine));
        assert!(!verify("correct horse batterY", &mine));
        let parsed = PasswordHash::new(&mine).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse battery", &parsed)
            .is_ok());
        // Hashes stored before the pool (the library's own hasher) still verify.
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default()
            .hash_password(b"jiayi-demo", &salt)
            .unwrap()
            .to_string();
        assert!(verify("jiayi-demo", &theirs));
        assert!(!verify("jiayi-demo ", &theirs));
        assert!(!verify("jiayi-demo", "not a phc string"));
    }

    #[test]
    fn logins_at_once_share_the_pooled_memory() {
        let stored = hash("a-password-for-all").unwrap();
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let s = stored.clone();
                std::thread::spawn(move || verify("a-password-for-all", &s))
            })
            .collect();
        assert!(threads.into_iter().all(|t| t.join().unwrap()));
    }
}
