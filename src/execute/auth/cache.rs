//! The token cache: refresh tokens kept across runs in one JSON file that
//! only its owner can read (mode 0600), keyed by server, client, user and
//! scope. An interactive login happens once; later runs refresh.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub struct TokenCache {
    path: PathBuf,
    entries: BTreeMap<String, String>,
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

impl TokenCache {
    pub fn open(path: Option<&Path>) -> Result<Self, String> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None => default_path()?,
        };
        let entries = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                return Err(format!(
                    "cannot read the token cache {}: {e}",
                    path.display()
                ))
            }
        };
        Ok(TokenCache { path, entries })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn refresh_token(&self, key: &str) -> Option<String> {
        self.entries.get(key).cloned()
    }

    pub fn store(&mut self, key: &str, refresh_token: &str) -> Result<(), super::AuthError> {
        if self.entries.get(key).map(String::as_str) == Some(refresh_token) {
            return Ok(());
        }
        self.entries
            .insert(key.to_string(), refresh_token.to_string());
        self.write().map_err(|e| super::AuthError {
            auth: "cache".into(),
            message: format!("cannot write the token cache {}: {e}", self.path.display()),
        })
    }

    /// Writes a new file with mode 0600 beside the old one, then renames it
    /// over: the cache is never readable by others, not even for a moment.
    fn write(&self) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self
            .path
            .with_extension(format!("tmp{}", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&tmp)?;
        #[cfg(unix)]
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        serde_json::to_writer_pretty(&file, &self.entries)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)
    }
}
