//! Password hashing (argon2id with OWASP's parameters: 19 MiB, 2 passes, 1 lane) and the
//! password policy. Hashing is CPU- and memory-heavy, so it runs on the blocking pool and
//! at most `permits` hashes run at once: a burst of logins then queues here instead of
//! starving every other request of CPU.

use std::sync::Arc;

use actix_web::web;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use tokio::sync::Semaphore;

use crate::error::{ApiError, FieldError, Text};

pub const MIN_LENGTH: usize = 10;
pub const MAX_LENGTH: usize = 128;

/// Common passwords (of the minimum length or longer) that are refused outright.
const DENY_LIST: &[&str] = &[
    "1234567890",
    "12345678910",
    "123456789a",
    "0123456789",
    "9876543210",
    "1111111111",
    "0000000000",
    "qwertyuiop",
    "1q2w3e4r5t",
    "password12",
    "password123",
    "passw0rd123",
    "matkhau123",
    "matkhau1234",
    "matkhaumoi",
    "anhyeuem123",
    "emyeuanh123",
    "iloveyou123",
    "admin12345",
    "admin123456",
    "administrator",
    "hocvuso123",
    "hocvuso2025",
    "hocvuso2026",
    "binhdanhocvuso",
    "vietnam123",
    "vietnam1234",
    "quangngai123",
    "abc1234567",
    "abcd123456",
    "aa12345678",
    "changeme123",
];

fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::DEFAULT)
}

/// Hashes and verifies passwords off the async executor, a bounded number at a time.
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    dummy_hash: Arc<String>,
}

impl Passwords {
    /// `concurrency`: how many hashes may run at once (half the cores is a good default).
    pub fn new(concurrency: usize) -> Result<Self, String> {
        let dummy = hash_blocking("dummy password for unknown users").map_err(|e| format!("argon2 self-test failed: {e}"))?;
        Ok(Self { permits: Arc::new(Semaphore::new(concurrency.max(1))), dummy_hash: Arc::new(dummy) })
    }

    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let _permit = self.permits.acquire().await.map_err(|e| ApiError::internal(format!("hash semaphore: {e}")))?;
        web::block(move || hash_blocking(&password))
            .await
            .map_err(|e| ApiError::internal(format!("blocking task failed: {e}")))?
            .map_err(|e| ApiError::internal(format!("argon2: {e}")))
    }

    /// Verifies `password` against `hash`; with no hash (unknown user) it verifies against a
    /// dummy hash with the same parameters, so the response time does not reveal whether
    /// the account exists. Returns false for no hash whatever the password.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, ApiError> {
        let _permit = self.permits.acquire().await.map_err(|e| ApiError::internal(format!("hash semaphore: {e}")))?;
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.as_str().to_owned());
        let ok = web::block(move || hasher().verify_password(password.as_bytes(), hash.as_str()).is_ok())
            .await
            .map_err(|e| ApiError::internal(format!("blocking task failed: {e}")))?;
        Ok(known && ok)
    }
}

pub fn hash_blocking(password: &str) -> Result<String, String> {
    hasher().hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|e| e.to_string())
}

/// The password policy: 10–128 characters, not a well-known password, not the username,
/// not one character repeated. Returns the failures for `field`.
pub fn check_policy(field: &str, password: &str, username: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let len = password.chars().count();
    if len < MIN_LENGTH {
        errors.push(FieldError::new(
            field,
            "too_short",
            Text::new(format!("Mật khẩu cần ít nhất {MIN_LENGTH} ký tự."), format!("The password needs at least {MIN_LENGTH} characters.")),
        ));
    } else if len > MAX_LENGTH {
        errors.push(FieldError::new(
            field,
            "too_long",
            Text::new(format!("Mật khẩu tối đa {MAX_LENGTH} ký tự."), format!("The password may have at most {MAX_LENGTH} characters.")),
        ));
    }
    let lower = password.to_lowercase();
    let first = lower.chars().next();
    let repeated = first.is_some_and(|f| lower.chars().all(|c| c == f));
    let has_username = !username.is_empty() && lower.contains(&username.to_lowercase());
    if DENY_LIST.contains(&lower.as_str()) || repeated || has_username {
        errors.push(FieldError::new(
            field,
            "too_common",
            Text::new(
                "Mật khẩu quá dễ đoán (phổ biến, lặp ký tự hoặc chứa tên đăng nhập).",
                "The password is too easy to guess (common, repeated characters or contains the username).",
            ),
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert!(check_policy("p", "Đồi-chè-xanh-2026", "lan").is_empty());
        assert_eq!(check_policy("p", "short", "lan")[0].code, "too_short");
        assert_eq!(check_policy("p", "MatKhau123", "lan")[0].code, "too_common");
        assert_eq!(check_policy("p", "aaaaaaaaaaaa", "lan")[0].code, "too_common");
        assert_eq!(check_policy("p", "nguyenlan-2026", "nguyenlan")[0].code, "too_common");
    }
}
