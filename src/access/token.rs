//! Access tokens (JWT, HS256 only) and the opaque secrets (refresh tokens, reset codes).
//! Access tokens name their session (`sid`); the session row decides whether they still
//! count, so logout, password change and deactivation take effect on the next request.

use base64::Engine;
use hmac::{Hmac, Mac};
use jsonwebtoken::{errors::ErrorKind, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::base::config::Secret;
use crate::base::error::{self, ApiError};

pub const ISSUER: &str = "hocvuso";
pub const AUDIENCE: &str = "hocvuso-api";

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// User id.
    pub sub: String,
    /// Session (refresh-token family) id.
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

/// Signing and verification keys plus the pinned validation rules.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    secret: Secret,
}

impl JwtKeys {
    pub fn new(secret: &Secret) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // Only HS256: a token that says `alg: none` or RS256 is refused by the library.
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret.expose()),
            decoding: DecodingKey::from_secret(secret.expose()),
            validation,
            secret: secret.clone(),
        }
    }

    pub fn issue(&self, user_id: &str, session_id: &str, now: i64, ttl: i64) -> Result<String, ApiError> {
        let claims = Claims {
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            sub: user_id.to_owned(),
            sid: session_id.to_owned(),
            iat: now,
            exp: now + ttl,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::internal(format!("jwt encode: {e}")))
    }

    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => error::unauthorized("token_expired"),
            _ => error::unauthorized("invalid_token"),
        })?;
        let claims = data.claims;
        if claims.jti.is_empty() || claims.sid.is_empty() || claims.iat > claims.exp {
            return Err(error::unauthorized("invalid_token"));
        }
        Ok(claims)
    }

    /// HMAC-SHA256 (hex) of raw bytes under the token secret: a fingerprint of a request
    /// body that cannot be brute-forced back without the key.
    pub fn keyed_hash_bytes(&self, parts: &[&[u8]]) -> String {
        let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(self.secret.expose()) {
            Ok(m) => m,
            Err(_) => return String::new(),
        };
        for p in parts {
            mac.update(p);
        }
        hex(&mac.finalize().into_bytes())
    }

    /// HMAC-SHA256 of a low-entropy secret (reset code) under the server key, hex encoded.
    pub fn keyed_hash(&self, value: &str) -> String {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(self.secret.expose()) {
            Ok(m) => m,
            Err(_) => return sha256_hex(value),
        };
        mac.update(value.as_bytes());
        hex(&mac.finalize().into_bytes())
    }
}

/// A new opaque refresh token: 256 random bits, base64url.
pub fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A new one-time reset code: 8 digits, easy to read out over the phone.
pub fn new_reset_code() -> String {
    format!("{:08}", rand::thread_rng().gen_range(0..100_000_000u32))
}

/// SHA-256 hex: refresh tokens are high-entropy, so a plain hash is enough at rest.
pub fn sha256_hex(value: &str) -> String {
    hex(&Sha256::digest(value.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    base16ct::lower::encode_string(bytes)
}
