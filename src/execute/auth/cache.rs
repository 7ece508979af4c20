//! The token cache: refresh tokens kept across runs in one JSON file that
//! only its owner can read (mode 0600), keyed by server, client, user and
//! scope. An interactive login happens once; later runs refresh.
//!
//! Several runs may share the file: each write takes an advisory lock,
//! reads the file again and merges its entry in, writes a temporary file
//! created exclusively beside it and renames it over, so no entry is lost
//! and no planted file is followed. A file that is not a cache is set aside
//! with a warning; a cache that cannot be written is an error its callers
//! turn into a warning during a run (the login it would have saved worked).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::secrets::{Secret, Secrets};

/// Refresh tokens kept across runs, read from and written to one file.
pub struct TokenCache {
    path: PathBuf,
    entries: BTreeMap<String, Secret>,
    secrets: Secrets,
}

/// `REQTEST_TOKEN_CACHE`, else `$XDG_CACHE_HOME/reqtest/tokens.json`, else
/// `~/.cache/reqtest/tokens.json`.
pub fn default_path() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("REQTEST_TOKEN_CACHE") {
        return Ok(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .ok_or("no REQTEST_TOKEN_CACHE, XDG_CACHE_HOME or HOME to put the token cache in")?;
    Ok(base.join("reqtest").join("tokens.json"))
}

fn warn(message: &str) {
    eprintln!("warning: {message}");
}

impl TokenCache {
    /// The cache at `path` (default: [`default_path`]); its refresh tokens
    /// are registered as secrets. Never fails for what is in the file.
    pub fn open(path: Option<&Path>, secrets: &Secrets) -> Result<Self, String> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None => default_path()?,
        };
        let mut cache = TokenCache {
            entries: BTreeMap::new(),
            secrets: secrets.clone(),
            path,
        };
        cache.entries = cache.read();
        Ok(cache)
    }

    /// The file the cache lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The refresh token stored under `key`, if any.
    pub fn refresh_token(&self, key: &str) -> Option<Secret> {
        self.entries.get(key).cloned()
    }

    /// The entries in the file now; a file that is not a cache is renamed
    /// aside (`tokens.json.corrupt-<time>`) with a warning.
    fn read(&self) -> BTreeMap<String, Secret> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return BTreeMap::new(),
            Err(e) => {
                warn(&format!(
                    "cannot read the token cache {}: {e}",
                    self.path.display()
                ));
                return BTreeMap::new();
            }
        };
        match serde_json::from_slice::<BTreeMap<String, String>>(&bytes) {
            Ok(entries) => entries
                .into_iter()
                .map(|(k, v)| (k, self.secrets.keep(v)))
                .collect(),
            Err(e) => {
                self.set_aside(&e.to_string());
                BTreeMap::new()
            }
        }
    }

    fn set_aside(&self, why: &str) {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S");
        let aside = self.path.with_extension(format!("json.corrupt-{stamp}"));
        match std::fs::rename(&self.path, &aside) {
            Ok(()) => warn(&format!(
                "the token cache {} is not a token cache ({why}); it was kept as {} and a new one is started",
                self.path.display(),
                aside.display()
            )),
            Err(e) => warn(&format!(
                "the token cache {} is not a token cache ({why}) and cannot be set aside: {e}",
                self.path.display()
            )),
        }
    }

    /// Keeps `refresh_token` under `key`, in memory and in the file (the
    /// entry stays in memory when the file cannot be written).
    pub fn store(&mut self, key: &str, refresh_token: &Secret) -> std::io::Result<()> {
        if self.entries.get(key) == Some(refresh_token) {
            return Ok(());
        }
        self.entries.insert(key.to_string(), refresh_token.clone());
        self.write(key, refresh_token)
    }

    /// Under the lock: the file as it is now, this entry merged in, written
    /// to a fresh temporary file and renamed over the cache.
    fn write(&mut self, key: &str, refresh_token: &Secret) -> std::io::Result<()> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir)?;
        let lock = lock_file(&self.path)?;
        lock.lock()?;
        let mut merged = self.read();
        merged.insert(key.to_string(), refresh_token.clone());
        let plain: BTreeMap<&str, &str> = merged
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose()))
            .collect();
        // tempfile opens with O_EXCL and mode 0600 under a random name.
        let mut tmp = tempfile::Builder::new()
            .prefix(".tokens-")
            .tempfile_in(&dir)?;
        serde_json::to_writer_pretty(&mut tmp, &plain)?;
        tmp.write_all(b"\n")?;
        tmp.as_file().sync_all()?;
        tmp.persist(&self.path).map_err(|e| e.error)?;
        self.entries = merged;
        lock.unlock()
    }
}

/// The lock file beside the cache (`tokens.json.lock`), never the cache
/// itself: the cache is replaced by a rename, which a lock would not follow.
fn lock_file(cache: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(cache.with_extension("json.lock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("reqtest-cache-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn concurrent_writers_lose_no_entry() {
        let path = dir("concurrent").join("tokens.json");
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let secrets = Secrets::new();
                    let mut cache = TokenCache::open(Some(&path), &secrets).unwrap();
                    cache
                        .store(&format!("key-{i}"), &secrets.keep(format!("rt-{i}")))
                        .unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let all: BTreeMap<String, String> =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(all.len(), 8, "{all:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_planted_symlink_at_the_old_temporary_name_is_not_followed() {
        let d = dir("symlink");
        let victim = d.join("victim");
        std::fs::write(&victim, "untouched").unwrap();
        let path = d.join("tokens.json");
        #[cfg(unix)]
        std::os::unix::fs::symlink(&victim, d.join(format!("tokens.tmp{}", std::process::id())))
            .unwrap();
        let secrets = Secrets::new();
        let mut cache = TokenCache::open(Some(&path), &secrets).unwrap();
        cache.store("k", &secrets.keep("rt")).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .contains("\"k\": \"rt\""));
    }

    #[test]
    fn a_corrupt_cache_is_set_aside_and_an_unwritable_one_is_only_a_warning() {
        let d = dir("corrupt");
        let path = d.join("tokens.json");
        std::fs::write(&path, "{not json").unwrap();
        let secrets = Secrets::new();
        let mut cache = TokenCache::open(Some(&path), &secrets).unwrap();
        assert!(cache.refresh_token("k").is_none());
        let aside: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("corrupt"))
            .collect();
        assert_eq!(aside.len(), 1);
        assert_eq!(
            std::fs::read_to_string(aside[0].path()).unwrap(),
            "{not json"
        );
        cache.store("k", &secrets.keep("rt")).unwrap();
        assert!(cache.refresh_token("k").is_some());

        // A folder where a file is: the cache cannot be written.
        let blocked = d.join("a-file");
        std::fs::write(&blocked, "").unwrap();
        let mut cache = TokenCache::open(Some(&blocked.join("tokens.json")), &secrets).unwrap();
        assert!(cache.store("k", &secrets.keep("rt")).is_err());
        assert!(cache.refresh_token("k").is_some(), "kept for this run");
    }
}
