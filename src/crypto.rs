//! Cryptographic helpers below every use case: the access-token keys, hashing of
//! high-entropy secrets and random identifiers. Nothing here reads the database.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::error::{AppError, AppResult};

/// The `iss` claim of access tokens.
pub const ISSUER: &str = "mcu";
/// The `aud` claim of access tokens.
pub const AUDIENCE: &str = "mcu-api";

/// Signing and verification keys for access tokens, with the validation rules pinned.
pub struct JwtKeys {
    pub(crate) encoding: EncodingKey,
    pub(crate) decoding: DecodingKey,
    pub(crate) validation: Validation,
}

impl JwtKeys {
    /// Keys from a shared secret; HS256 only, `iss`, `aud`, `sub`, `exp` required.
    ///
    /// # Errors
    /// When the key cannot be made from the secret.
    pub fn new(secret: &SecretString) -> AppResult<Self> {
        let bytes = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        // Expiry is checked against the application clock in `authenticate` (tests move it).
        validation.validate_exp = false;
        Ok(Self {
            encoding: EncodingKey::from_secret(bytes).map_err(AppError::internal)?,
            decoding: DecodingKey::from_secret(bytes).map_err(AppError::internal)?,
            validation,
        })
    }
}

/// Lower-case hex SHA-256, for storing high-entropy secrets.
pub fn sha256_hex(s: &str) -> String {
    hex(&Sha256::digest(s.as_bytes()))
}

/// `n` random bytes as lower-case hex.
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    rand::rng().fill_bytes(&mut buf);
    hex(&buf)
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}
