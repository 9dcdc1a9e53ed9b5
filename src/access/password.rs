//! Password hashing (argon2id with OWASP's parameters: 19 MiB, 2 passes, 1 lane) and the
//! password policy.
//!
//! Hashing is CPU- and memory-heavy and never runs on the async executor. It runs on a
//! few dedicated threads (half the cores): a burst of sign-ins then queues here instead of
//! taking every core from other requests (at a lower priority), and the 19 MiB work areas are reused by the same
//! threads instead of piling up in the allocator arenas of many blocking threads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use tokio::sync::oneshot;

use crate::base::error::{ApiError, FieldError, Text};
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

type Job = Box<dyn FnOnce() + Send>;

/// Hashes and verifies passwords on dedicated threads.
#[derive(Clone)]
pub struct Passwords {
    jobs: mpsc::Sender<Job>,
    dummy_hash: Arc<String>,
    /// argon2 verifications run so far (known and unknown users alike).
    verifications: Arc<AtomicU64>,
}

impl Passwords {
    /// `threads`: how many hashes may run at once.
    pub fn new(threads: usize) -> Result<Self, String> {
        let dummy = hash_blocking("dummy password for unknown users").map_err(|e| format!("argon2 self-test failed: {e}"))?;
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    // The lowest priority (nice 19): below the request threads: under a burst of
                    // sign-ins the other requests keep their latency; hashing still gets the
                    // CPU that is left (and a small share when the machine is saturated).
                    let low = thread_priority::ThreadPriorityValue::try_from(0u8)
                        .map(thread_priority::ThreadPriority::Crossplatform)
                        .map_err(|e| e.to_string());
                    if let Err(e) = low.and_then(|p| thread_priority::set_current_thread_priority(p).map_err(|e| e.to_string())) {
                        tracing::warn!(error = %e, "could not lower the priority of the password hashing thread");
                    }
                    loop {
                        // The lock is held only while taking the next job.
                        let job = match rx.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return, // every sender dropped: shut down
                        }
                    }
                })
                .map_err(|e| format!("cannot start the password hashing thread: {e}"))?;
        }
        Ok(Self { jobs: tx, dummy_hash: Arc::new(dummy), verifications: Arc::new(AtomicU64::new(0)) })
    }

    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = tx.send(f());
            }))
            .map_err(|_| ApiError::internal("password hashing threads stopped"))?;
        rx.await.map_err(|_| ApiError::internal("password hashing job lost"))
    }

    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        self.run(move || hash_blocking(&password)).await?.map_err(|e| ApiError::internal(format!("argon2: {e}")))
    }

    /// Verifies `password` against `hash`; with no hash (unknown user) it verifies against a
    /// dummy hash with the same parameters, so the response time does not reveal whether
    /// the account exists. Returns false for no hash whatever the password.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, ApiError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.as_str().to_owned());
        let count = Arc::clone(&self.verifications);
        let ok = self
            .run(move || {
                count.fetch_add(1, Ordering::Relaxed);
                hasher().verify_password(password.as_bytes(), hash.as_str()).is_ok()
            })
            .await?;
        Ok(known && ok)
    }

    /// How many argon2 verifications have run (for the timing-equality test).
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    /// The hash verified for unknown users.
    pub fn dummy_hash(&self) -> &str {
        &self.dummy_hash
    }
}

pub fn hash_blocking(password: &str) -> Result<String, String> {
    hasher().hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|e| e.to_string())
}

/// Words Vietnamese users build weak passwords from, handed to the strength estimator as
/// extra dictionary words: it knows English words and names, not `matkhau` (mật khẩu,
/// "password"), `anhyeuem` ("I love you") or the movement's own names, so without them
/// `Matkhau@123` scores as strong.
const VIETNAMESE_WEAK_WORDS: &[&str] = &[
    "matkhau",
    "matkhaumoi",
    "mk",
    "anhyeuem",
    "emyeuanh",
    "yeuem",
    "yeuanh",
    "iuem",
    "anhiuem",
    "emiuanh",
    "vietnam",
    "hocvuso",
    "binhdan",
    "binhdanhocvuso",
    "hocvu",
    "quangngai",
    "hanoi",
    "saigon",
    "hochiminh",
    "danang",
    "congnghe",
    "congnghso",
    "conghengso",
    "chuyendoiso",
    "doanthanhnien",
    "xinchao",
    "admin",
    "quantri",
    "nguyen",
    "tran",
    "pham",
    "hoang",
    "huynh",
    "phan",
    "dang",
    "bui",
    "ngo",
    "vo",
    "duong",
    "ly",
    "abc",
    "abcd",
    "qwerty",
];

/// The password policy: 10–128 characters, not the username, and hard to guess by a real
/// strength estimator (zxcvbn, score 3 of 4: about 10^8 guesses or more), which also knows
/// the Vietnamese words above, the user's name and a list of passwords seen in use.
/// Returns the failures for `field`.
pub fn check_policy(field: &str, password: &str, username: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let len = password.chars().count();
    if len < MIN_LENGTH {
        errors.push(FieldError::new(
            field,
            "too_short",
            Text::new(format!("Mật khẩu cần ít nhất {MIN_LENGTH} ký tự."), format!("The password needs at least {MIN_LENGTH} characters.")),
        ));
        return errors;
    } else if len > MAX_LENGTH {
        errors.push(FieldError::new(
            field,
            "too_long",
            Text::new(format!("Mật khẩu tối đa {MAX_LENGTH} ký tự."), format!("The password may have at most {MAX_LENGTH} characters.")),
        ));
        return errors;
    }
    let lower = password.to_lowercase();
    let has_username = !username.is_empty() && lower.contains(&username.to_lowercase());
    if DENY_LIST.contains(&lower.as_str()) || has_username {
        errors.push(FieldError::new(
            field,
            "too_common",
            Text::new(
                "Mật khẩu quá dễ đoán (mật khẩu phổ biến hoặc chứa tên đăng nhập).",
                "The password is too easy to guess (a common password or contains the username).",
            ),
        ));
    } else if !strong_enough(password, username) {
        errors.push(FieldError::new(
            field,
            "too_weak",
            Text::new(
                "Mật khẩu quá dễ đoán: tránh từ quen thuộc (matkhau, anhyeuem, tên riêng), dãy số, ký tự lặp; \
                 dùng một cụm vài từ không liên quan, ví dụ \"Đồi-chè-xanh-bên-suối\".",
                "The password is too easy to guess: avoid familiar words (matkhau, anhyeuem, names), sequences and \
                 repeated characters; use a phrase of a few unrelated words, e.g. \"Đồi-chè-xanh-bên-suối\".",
            ),
        ));
    }
    errors
}

/// zxcvbn's estimate, with the Vietnamese words, the deny list and the username as extra
/// dictionary words. Diacritics are stripped first as well: `Mậtkhẩu@123` is as weak as
/// `Matkhau@123` (both forms are judged, the weaker counts).
fn strong_enough(password: &str, username: &str) -> bool {
    let mut inputs: Vec<&str> = VIETNAMESE_WEAK_WORDS.iter().chain(DENY_LIST).copied().collect();
    if !username.is_empty() {
        inputs.push(username);
    }
    let plain = crate::base::text::fold(password);
    [password, plain.as_str()].iter().all(|p| u8::from(zxcvbn::zxcvbn(p, &inputs).score()) >= 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert!(check_policy("p", "Đồi-chè-xanh-2026", "lan").is_empty());
        assert_eq!(check_policy("p", "short", "lan")[0].code, "too_short");
        assert!(check_policy("p", "Bốn-con-mèo-ngủ-trưa", "lan").is_empty());
        assert_eq!(check_policy("p", "MatKhau123", "lan")[0].code, "too_common");
        for weak in ["aaaaaaaaaaaa", "Matkhau@123", "Abc@123456", "Mậtkhẩu@2026", "Anhyeuem@1", "Vietnam@2025", "Qwerty@12345"] {
            assert_eq!(check_policy("p", weak, "lan").first().map(|e| e.code.as_str()), Some("too_weak"), "{weak}");
        }
        assert_eq!(check_policy("p", "nguyenlan-2026", "nguyenlan")[0].code, "too_common");
    }
}
