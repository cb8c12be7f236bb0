//! argon2id on a bounded pool of threads.
//!
//! Hashing is the expensive thing an attacker can make us do, so it never runs on the async
//! workers and never queues without bound: [`Hasher`] owns `threads` OS threads (default: one per
//! core) and a queue of `queue` waiting jobs. A job offered to a full queue is refused at once
//! with [`Error::Overloaded`] (HTTP 503 + `Retry-After`). Two lanes of `queue` each: jobs for
//! addresses that logged in successfully recently ([`Priority::High`]) are served first, so a
//! flood of wrong passwords from elsewhere cannot starve known users. Callers block on the
//! answer, so call from a blocking context. A panic inside argon2 is caught on the pool thread and re-raised in
//! the caller, which is where it belongs.

use crate::Error;
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, mpsc};
use zeroize::Zeroizing;

type Reply = mpsc::SyncSender<std::thread::Result<Result<Outcome, String>>>;

enum Work {
    Hash(Zeroizing<Vec<u8>>),
    Verify(Zeroizing<Vec<u8>>, String),
}

enum Outcome {
    Hashed(String),
    Verified(bool),
}

/// Which lane a job waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Everyone else.
    Normal,
    /// Clients that logged in successfully recently.
    High,
}

impl Priority {
    /// The high lane for a client known good for the account, else the normal one.
    pub fn known(known_good: bool) -> Priority {
        if known_good {
            Priority::High
        } else {
            Priority::Normal
        }
    }
}

struct Lanes<J = (Work, Reply)> {
    high: VecDeque<J>,
    normal: VecDeque<J>,
}

impl<J> Default for Lanes<J> {
    fn default() -> Self {
        Lanes {
            high: VecDeque::new(),
            normal: VecDeque::new(),
        }
    }
}

/// Normal jobs waiting beyond which the reserved thread serves only the high lane.
const BACKLOG: usize = 2;

impl<J> Lanes<J> {
    /// The next job: the high lane first.
    #[cfg(test)]
    fn pop(&mut self) -> Option<J> {
        self.pop_for(false)
    }

    /// The next job for a thread; a `reserved` thread takes normal jobs only while the normal
    /// lane is short.
    fn pop_for(&mut self, reserved: bool) -> Option<J> {
        if let Some(j) = self.high.pop_front() {
            return Some(j);
        }
        if reserved && self.normal.len() > BACKLOG {
            return None;
        }
        self.normal.pop_front()
    }
}

struct Queue {
    lanes: Mutex<Lanes>,
    ready: Condvar,
    capacity: usize,
}

/// The pool. Cheap to clone (shares the threads).
#[derive(Clone)]
pub struct Hasher {
    queue: Arc<Queue>,
    params: Params,
    dummy: Arc<String>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

fn argon(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn salt() -> Result<[u8; 16], Error> {
    let mut s = [0u8; 16];
    crate::credentials::tokens::random_bytes(&mut s)?;
    Ok(s)
}

fn do_work(params: &Params, work: Work) -> Result<Outcome, String> {
    match work {
        Work::Hash(pw) => {
            let salt = salt().map_err(|e| e.to_string())?;
            argon(params)
                .hash_password_with_salt(&pw, &salt)
                .map(|h| Outcome::Hashed(h.to_string()))
                .map_err(|e| e.to_string())
        }
        Work::Verify(pw, phc) => {
            let parsed = PasswordHash::new(&phc).map_err(|e| e.to_string())?;
            // The parameters inside the PHC string are used, not ours: old hashes still verify.
            Ok(Outcome::Verified(
                argon(params).verify_password(&pw, &parsed).is_ok(),
            ))
        }
    }
}

impl Hasher {
    /// Start `threads` hashing threads (0 = number of cores) with room for `queue` waiting jobs.
    pub fn new(
        cfg: &sesame_config::Password,
        threads: usize,
        queue: usize,
    ) -> Result<Hasher, Error> {
        let params = Params::new(
            cfg.argon2_memory_kib,
            cfg.argon2_iterations,
            cfg.argon2_parallelism,
            None,
        )
        .map_err(|e| Error::Internal(format!("argon2 parameters: {e}")))?;
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            threads
        };
        let q = Arc::new(Queue {
            lanes: Mutex::new(Lanes::default()),
            ready: Condvar::new(),
            capacity: queue.max(1),
        });
        for i in 0..threads {
            let q = Arc::clone(&q);
            let params = params.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    loop {
                        let job = {
                            let Ok(mut lanes) = q.lanes.lock() else {
                                return;
                            };
                            // With two threads or more, the first one is kept for the high
                            // lane while the normal lane is backed up (an attack): a known user
                            // never waits behind a whole queue of attackers' hashes.
                            let reserved = i == 0 && threads > 1;
                            loop {
                                if let Some(j) = lanes.pop_for(reserved) {
                                    break j;
                                }
                                lanes = match q.ready.wait(lanes) {
                                    Ok(l) => l,
                                    Err(_) => return,
                                };
                            }
                        };
                        let (work, reply) = job;
                        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            do_work(&params, work)
                        }));
                        let _ = reply.send(r);
                    }
                })
                .map_err(|e| Error::Internal(format!("hasher thread: {e}")))?;
        }
        // A hash of a random password with our parameters, verified against when the account
        // does not exist, so that "unknown user" costs the same time as "wrong password".
        let mut junk = [0u8; 24];
        crate::credentials::tokens::random_bytes(&mut junk)?;
        let dummy = match do_work(&params, Work::Hash(Zeroizing::new(junk.to_vec()))) {
            Ok(Outcome::Hashed(h)) => h,
            _ => return Err(Error::Internal("cannot compute the dummy hash".into())),
        };
        Ok(Hasher {
            queue: q,
            params,
            dummy: Arc::new(dummy),
        })
    }

    fn submit(&self, work: Work, priority: Priority) -> Result<Outcome, Error> {
        let (reply, wait) = mpsc::sync_channel(1);
        {
            let mut lanes = self
                .queue
                .lanes
                .lock()
                .map_err(|_| Error::Internal("hasher stopped".into()))?;
            let lane = match priority {
                Priority::High => &mut lanes.high,
                Priority::Normal => &mut lanes.normal,
            };
            if lane.len() >= self.queue.capacity {
                return Err(Error::Overloaded);
            }
            lane.push_back((work, reply));
        }
        // Every thread looks: the reserved one may decline a normal job another must take.
        self.queue.ready.notify_all();
        match wait.recv() {
            Ok(Ok(r)) => r.map_err(|e| Error::Internal(format!("argon2: {e}"))),
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => Err(Error::Internal("hasher stopped".into())),
        }
    }

    /// argon2id PHC string of `secret` under the configured parameters.
    pub fn hash(&self, secret: &[u8]) -> Result<String, Error> {
        match self.submit(
            Work::Hash(Zeroizing::new(secret.to_vec())),
            Priority::Normal,
        )? {
            Outcome::Hashed(h) => Ok(h),
            Outcome::Verified(_) => Err(Error::Internal("hasher answered out of turn".into())),
        }
    }

    /// Whether `secret` matches `phc` (argon2 compares in constant time).
    pub fn verify(&self, secret: &[u8], phc: &str) -> Result<bool, Error> {
        self.verify_with(Priority::Normal, secret, phc)
    }

    /// [`Hasher::verify`] in the given lane.
    pub fn verify_with(&self, priority: Priority, secret: &[u8], phc: &str) -> Result<bool, Error> {
        let work = Work::Verify(Zeroizing::new(secret.to_vec()), phc.to_owned());
        match self.submit(work, priority)? {
            Outcome::Verified(ok) => Ok(ok),
            Outcome::Hashed(_) => Err(Error::Internal("hasher answered out of turn".into())),
        }
    }

    /// Spend one verification's worth of time for an account that does not exist.
    pub fn verify_dummy(&self, secret: &[u8]) -> Result<(), Error> {
        self.verify(secret, &self.dummy).map(|_| ())
    }

    /// [`Hasher::verify_dummy`] in the given lane.
    pub fn verify_dummy_with(&self, priority: Priority, secret: &[u8]) -> Result<(), Error> {
        self.verify_with(priority, secret, &self.dummy).map(|_| ())
    }

    /// Whether `phc` was made with other parameters than the configured ones (rehash on login).
    pub fn needs_rehash(&self, phc: &str) -> bool {
        let Ok(h) = PasswordHash::new(phc) else {
            return true;
        };
        match Params::try_from(&h) {
            Ok(p) => {
                h.algorithm != argon2::ARGON2ID_IDENT
                    || p.m_cost() != self.params.m_cost()
                    || p.t_cost() != self.params.t_cost()
                    || p.p_cost() != self.params.p_cost()
            }
            Err(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn cheap() -> sesame_config::Password {
        sesame_config::Password {
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            argon2_parallelism: 1,
            ..Default::default()
        }
    }

    #[test]
    fn hash_then_verify() {
        let h = Hasher::new(&cheap(), 1, 4).unwrap();
        let phc = h.hash(b"correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        assert!(h.verify(b"correct horse", &phc).unwrap());
        assert!(!h.verify(b"correct horsf", &phc).unwrap());
        assert!(!h.needs_rehash(&phc));
        h.verify_dummy(b"x").unwrap();
    }

    #[test]
    fn old_parameters_still_verify_and_ask_for_rehash() {
        let old = Hasher::new(&cheap(), 1, 4).unwrap();
        let phc = old.hash(b"pw").unwrap();
        let newer = Hasher::new(
            &sesame_config::Password {
                argon2_memory_kib: 128,
                ..cheap()
            },
            1,
            4,
        )
        .unwrap();
        assert!(newer.verify(b"pw", &phc).unwrap());
        assert!(newer.needs_rehash(&phc));
        assert!(newer.needs_rehash("not a hash"));
    }

    #[test]
    fn the_high_lane_is_served_first() {
        let mut l: Lanes<&str> = Lanes::default();
        l.normal.push_back("n1");
        l.normal.push_back("n2");
        l.high.push_back("h1");
        l.normal.push_back("n3");
        l.high.push_back("h2");
        let order: Vec<_> = std::iter::from_fn(|| l.pop()).collect();
        assert_eq!(order, ["h1", "h2", "n1", "n2", "n3"]);
    }

    #[test]
    fn the_reserved_thread_leaves_a_backlog_to_the_others() {
        let mut l: Lanes<u32> = Lanes::default();
        l.normal.extend([1, 2, 3]);
        assert_eq!(l.pop_for(true), None, "backlog: kept for the high lane");
        l.high.push_back(9);
        assert_eq!(l.pop_for(true), Some(9));
        assert_eq!(l.pop_for(false), Some(1));
        assert_eq!(
            l.pop_for(true),
            Some(2),
            "short lane: the reserved thread helps"
        );
    }

    #[test]
    fn a_full_queue_refuses_instead_of_waiting() {
        // One thread, queue of one, and expensive enough parameters that jobs pile up.
        let slow = sesame_config::Password {
            argon2_memory_kib: 8192,
            argon2_iterations: 3,
            ..cheap()
        };
        let h = Hasher::new(&slow, 1, 1).unwrap();
        let handles: Vec<_> = (0..12)
            .map(|_| {
                let h = h.clone();
                std::thread::spawn(move || h.hash(b"pw"))
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|t| t.join().unwrap()).collect();
        let refused = results
            .iter()
            .filter(|r| matches!(r, Err(Error::Overloaded)))
            .count();
        let done = results.iter().filter(|r| r.is_ok()).count();
        assert!(refused > 0, "some jobs must be refused");
        assert!(done >= 1, "the pool still works");
        assert_eq!(refused + done, 12);
    }
}
