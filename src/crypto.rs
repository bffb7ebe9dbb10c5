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

/// The prefix of a webhook signing secret as Standard Webhooks writes it.
pub const WEBHOOK_SECRET_PREFIX: &str = "whsec_";

/// A new webhook signing key (32 random bytes) and the form an integrator is given:
/// `whsec_<base64 of the key>`.
pub fn new_webhook_secret() -> (Vec<u8>, String) {
    use base64::Engine;
    let mut key = vec![0u8; 32];
    rand::rng().fill_bytes(&mut key);
    let shown = format!("{WEBHOOK_SECRET_PREFIX}{}", base64::engine::general_purpose::STANDARD.encode(&key));
    (key, shown)
}

/// The Standard Webhooks signature of a message: `v1,<base64 of HMAC-SHA256(key,
/// "{id}.{timestamp}.{body}")>`, where `key` is the secret's bytes (after `whsec_`).
pub fn webhook_signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    use base64::Engine;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(ctx.sign().as_ref()))
}

/// Seals secrets the server must keep in the database but use itself (a webhook's signing
/// key): ChaCha20-Poly1305 with a random nonce under a key derived from the server's secret
/// (`MCU_JWT_SECRET`, or the one generated beside an SQLite file). A copy of the database
/// alone does not reveal them; a server with another secret cannot open them.
pub struct SecretSealer {
    key: ring::aead::LessSafeKey,
}

/// What the sealed form starts with (the version of the scheme).
const SEALED_PREFIX: &str = "v1:";
/// Binds sealed values to their use.
const SEAL_AAD: &[u8] = b"mcu webhook secret";

impl SecretSealer {
    /// The sealer of a server secret.
    ///
    /// # Errors
    /// When the key cannot be made (not expected for a 32-byte key).
    pub fn new(server_secret: &SecretString) -> AppResult<Self> {
        use ring::aead::{CHACHA20_POLY1305, LessSafeKey, UnboundKey};
        let derive = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, server_secret.expose_secret().as_bytes());
        let key = ring::hmac::sign(&derive, b"mcu: sealing key of stored secrets, v1");
        let key = UnboundKey::new(&CHACHA20_POLY1305, key.as_ref()).map_err(|_| AppError::internal("sealing key"))?;
        Ok(Self { key: LessSafeKey::new(key) })
    }

    /// Seals `plain`: `v1:<base64 of nonce, ciphertext and tag>`.
    ///
    /// # Errors
    /// When sealing fails (not expected).
    pub fn seal(&self, plain: &[u8]) -> AppResult<String> {
        use base64::Engine;
        use ring::aead::{Aad, NONCE_LEN, Nonce};
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut data = plain.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(SEAL_AAD), &mut data)
            .map_err(|_| AppError::internal("sealing a secret failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(format!("{SEALED_PREFIX}{}", base64::engine::general_purpose::STANDARD.encode(out)))
    }

    /// Opens what [`Self::seal`] made; `None` when it was sealed under another server secret
    /// or altered.
    pub fn open(&self, sealed: &str) -> Option<Vec<u8>> {
        use base64::Engine;
        use ring::aead::{Aad, NONCE_LEN, Nonce};
        let raw = base64::engine::general_purpose::STANDARD.decode(sealed.strip_prefix(SEALED_PREFIX)?).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, data) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = data.to_vec();
        let plain = self.key.open_in_place(nonce, Aad::from(SEAL_AAD), &mut data).ok()?;
        Some(plain.to_vec())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn signatures_reproduce_the_standard_webhooks_test_vector() {
        // The vector of the specification's reference libraries: a receiver's library accepts
        // what reproduces it.
        use base64::Engine;
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let key = base64::engine::general_purpose::STANDARD.decode(&secret[WEBHOOK_SECRET_PREFIX.len()..]).unwrap();
        let sig = webhook_signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, br#"{"test": 2432232314}"#);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn new_secrets_are_whsec_base64_of_32_bytes() {
        use base64::Engine;
        let (key, shown) = new_webhook_secret();
        let decoded = base64::engine::general_purpose::STANDARD.decode(shown.strip_prefix("whsec_").unwrap()).unwrap();
        assert_eq!(decoded, key);
        assert_eq!(key.len(), 32);
        assert_ne!(new_webhook_secret().1, shown);
    }

    #[test]
    fn sealed_secrets_open_only_with_the_same_server_secret_and_unaltered() {
        let one = SecretSealer::new(&SecretString::from("a server secret of enough length 0123")).unwrap();
        let two = SecretSealer::new(&SecretString::from("another server secret of enough length")).unwrap();
        let sealed = one.seal(b"signing key").unwrap();
        assert!(!sealed.contains("signing"));
        assert_ne!(one.seal(b"signing key").unwrap(), sealed, "a fresh nonce each time");
        assert_eq!(one.open(&sealed).as_deref(), Some(&b"signing key"[..]));
        assert_eq!(two.open(&sealed), None);
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 3;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(one.open(&String::from_utf8(altered).unwrap()), None);
        assert_eq!(one.open("v1:"), None);
        assert_eq!(one.open("plain"), None);
    }
}
