//! Passwords: Argon2id (19 MiB, 2 passes), hashed and verified on a
//! bounded pool. At most `workers` hashes run at once, on threads of the
//! pool's own (never on the async workers that serve MCP calls, nor on the
//! blocking threads that run SQLite); up to `queue` more wait their turn,
//! and past that a sign-in is refused (429 with Retry-After) instead of
//! queueing without bound.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use tokio::sync::Semaphore;
use unicode_normalization::UnicodeNormalization as _;

use authgate_core::ToolError;

pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 256;

/// Argon2id parameters (OWASP's minimum: 19 MiB, 2 iterations, 1 lane).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
}

impl Default for HashParams {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
        }
    }
}

/// The hashing pool, shared by a gateway's requests.
pub struct Passwords {
    params: HashParams,
    permits: Semaphore,
    waiting: AtomicUsize,
    queue: usize,
    /// Verifications run so far (tests and metrics count them).
    verifications: AtomicU64,
    /// A hash of no password, verified when the account does not exist so
    /// that an unknown email takes as long as a wrong password.
    dummy: String,
    /// Hands work to the pool's threads; they end when it is dropped.
    jobs: Mutex<mpsc::Sender<Job>>,
}

type Job = Box<dyn FnOnce() + Send>;

/// Hashing runs only when no other thread of the machine wants the core
/// (Linux `SCHED_IDLE`): a sign-in flood then slows sign-ins, not MCP calls
/// or the rest of the REST API, which preempt it at once.
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::unix::{
            NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
            thread_native_id,
        };
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        if let Err(err) = set_thread_priority_and_policy(
            thread_native_id(),
            thread_priority::ThreadPriority::Min,
            idle,
        ) {
            tracing::warn!(error = ?err, "could not lower the password pool's CPU priority");
        }
    }
}

/// Starts `workers` threads that run the jobs sent on the returned sender.
fn start_workers(workers: usize) -> Result<mpsc::Sender<Job>, ToolError> {
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..workers {
        let rx = rx.clone();
        std::thread::Builder::new()
            .name(format!("authgate-argon2-{i}"))
            .spawn(move || {
                lowest_priority();
                loop {
                    // The lock is held only to take the next job.
                    let job = match rx.lock() {
                        Ok(guard) => guard.recv(),
                        Err(poisoned) => poisoned.into_inner().recv(),
                    };
                    match job {
                        // A panicking job loses its answer, not the thread.
                        Ok(job) => {
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                        }
                        Err(_) => return,
                    }
                }
            })
            .map_err(|e| ToolError::internal(format!("starting the password pool: {e}")))?;
    }
    Ok(tx)
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

fn argon2(params: HashParams) -> Result<Argon2<'static>, ToolError> {
    let params = Params::new(params.memory_kib, params.iterations, 1, None)
        .map_err(|e| ToolError::internal(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_sync(params: HashParams, password: &str) -> Result<String, ToolError> {
    let salt: [u8; 16] = rand::random();
    argon2(params)?
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ToolError::internal(format!("argon2: {e}")))
}

impl Passwords {
    /// `workers` hashes at once (use the number of cores, less one for the
    /// rest of the server where there are several), `queue` more waiting.
    pub fn new(params: HashParams, workers: usize, queue: usize) -> Result<Arc<Self>, ToolError> {
        let dummy = hash_sync(params, "no password: an unknown account")?;
        let workers = workers.max(1);
        let jobs = Mutex::new(start_workers(workers)?);
        Ok(Arc::new(Passwords {
            jobs,
            params,
            permits: Semaphore::new(workers),
            waiting: AtomicUsize::new(0),
            queue,
            verifications: AtomicU64::new(0),
            dummy,
        }))
    }

    /// Sized to this machine: one worker per core but one (at least one).
    pub fn for_this_machine(params: HashParams) -> Result<Arc<Self>, ToolError> {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        Self::new(params, cores.saturating_sub(1).max(1), 256)
    }

    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    async fn run<T: Send + 'static>(
        &self, work: impl FnOnce() -> Result<T, ToolError> + Send + 'static,
    ) -> Result<T, ToolError> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(ToolError::rate_limited(
                "too many sign-ins are being checked right now; retry in a moment",
                1,
            ));
        }
        let permit = self.permits.acquire().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let _permit = permit.map_err(|_| ToolError::internal("the password pool is closed"))?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(work());
        });
        self.jobs
            .lock()
            .map_err(|_| ToolError::internal("the password pool is poisoned"))?
            .send(job)
            .map_err(|_| ToolError::internal("the password pool has stopped"))?;
        rx.await
            .map_err(|_| ToolError::internal("a password task failed"))?
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: &str) -> Result<String, ToolError> {
        let params = self.params;
        let password = prepare(password);
        self.run(move || hash_sync(params, &password)).await
    }

    /// Whether `password` matches `stored`; with `None` (no such account)
    /// verifies against a dummy hash and answers false, in the same time.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<bool, ToolError> {
        let known = stored.is_some();
        let stored = stored.unwrap_or(&self.dummy).to_owned();
        let password = prepare(password);
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let matched = self
            .run(move || {
                Ok(Argon2::default()
                    .verify_password(password.as_bytes(), stored.as_str())
                    .is_ok())
            })
            .await?;
        Ok(known && matched)
    }
}

/// Passwords are compared in NFKC, so the same password typed on two
/// keyboards (composed or decomposed accents) matches.
fn prepare(password: &str) -> String {
    password.nfkc().collect()
}

/// Checks a new password's length (8 to 256 characters), naming `field`.
pub fn validate(field: &str, password: &str) -> Result<(), ToolError> {
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(ToolError::invalid(
            field,
            format!("{field} must be at least {MIN_LEN} characters"),
        )
        .with_hint("choose a longer password; a passphrase of a few words works well"));
    }
    if n > MAX_LEN {
        return Err(ToolError::invalid(
            field,
            format!("{field} must be at most {MAX_LEN} characters"),
        ));
    }
    if password.chars().any(|c| c.is_control()) {
        return Err(ToolError::invalid(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hashes_verify_and_unknown_accounts_never_match() {
        let pool = Passwords::new(
            HashParams {
                memory_kib: 1024,
                iterations: 1,
            },
            1,
            4,
        )
        .expect("pool");
        let hash = pool.hash("correct horse").await.expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            pool.verify("correct horse", Some(&hash))
                .await
                .expect("verify")
        );
        assert!(
            !pool
                .verify("wrong horse", Some(&hash))
                .await
                .expect("verify")
        );
        assert!(!pool.verify("correct horse", None).await.expect("verify"));
        assert_eq!(pool.verifications(), 3);
        // Decomposed é (e + combining acute) matches the composed one.
        let accented = pool.hash("caf\u{e9} au lait").await.expect("hash");
        assert!(
            pool.verify("cafe\u{301} au lait", Some(&accented))
                .await
                .expect("verify")
        );
    }

    #[test]
    fn lengths_are_checked() {
        assert!(validate("password", "short").is_err());
        assert!(validate("password", &"x".repeat(257)).is_err());
        assert!(validate("password", "long enough").is_ok());
        assert!(validate("password", "ctrl\u{0}char").is_err());
    }
}
