//! What the collections of one run share about tokens: one grant per
//! identity, renewed by one of them at a time (the others wait and take
//! it), and the token cache file. A provider that rotates refresh tokens
//! then sees each one used once, not once per collection.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::cache::TokenCache;
use super::grant::Grant;
use crate::secrets::{Secret, Secrets};

/// One identity's grant, behind a lock held while it is renewed.
pub type Slot = Arc<tokio::sync::Mutex<Option<Grant>>>;

/// The grants and token cache the collections of one run share.
#[derive(Default)]
pub struct Shared {
    slots: Mutex<HashMap<String, Slot>>,
    cache: Mutex<Option<TokenCache>>,
    cache_path: Option<PathBuf>,
    generations: AtomicU64,
}

impl Shared {
    /// A run's store; `cache_path` overrides the token cache's place.
    pub fn new(cache_path: Option<PathBuf>) -> Arc<Shared> {
        Arc::new(Shared {
            cache_path,
            ..Shared::default()
        })
    }

    /// The grant slot for `identity`, created empty the first time.
    pub fn slot(&self, identity: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.entry(identity.to_string()).or_default().clone()
    }

    /// The number for a newly obtained grant, above every earlier one.
    pub fn next_generation(&self) -> u64 {
        self.generations.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn with_cache<T>(
        &self,
        secrets: &Secrets,
        f: impl FnOnce(&mut TokenCache) -> T,
    ) -> Result<T, String> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.is_none() {
            *cache = Some(TokenCache::open(self.cache_path.as_deref(), secrets)?);
        }
        Ok(f(cache.as_mut().expect("just opened")))
    }

    /// The refresh token the cache file keeps under `key`.
    pub fn cached(&self, key: &str, secrets: &Secrets) -> Result<Option<Secret>, String> {
        self.with_cache(secrets, |c| c.refresh_token(key))
    }

    /// Keeps a refresh token in the cache file; returns the file.
    pub fn keep(
        &self,
        key: &str,
        refresh_token: &Secret,
        secrets: &Secrets,
    ) -> Result<PathBuf, String> {
        self.with_cache(secrets, |c| {
            c.store(key, refresh_token)
                .map(|()| c.path().to_path_buf())
                .map_err(|e| format!("cannot write the token cache {}: {e}", c.path().display()))
        })?
    }
}
