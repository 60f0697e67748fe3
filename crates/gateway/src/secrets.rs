//! The gateway's own secrets: the key of findings' keyed hashes and the admin API token.
//! Each comes from the environment when configured, else from a file in the data folder
//! that the first start generates (random bytes, mode 0600) and later starts reuse. Neither
//! value is ever logged; only the file's path is.

use std::io::Write;
use std::path::{Path, PathBuf};

use rampart_detect::HashKey;

/// The environment variable read for the hash key when `hash_key_env` is not set.
pub(crate) const HASH_KEY_ENV: &str = "RAMPART_HASH_KEY";

/// Why a secret could not be read or created.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The configured environment variable is missing or empty.
    #[error("{field}: environment variable {var} is not set; set it or remove {field}")]
    MissingEnv {
        /// The configuration field naming the variable.
        field: &'static str,
        /// The variable.
        var: String,
    },
    /// The file could not be read, created or secured.
    #[error(
        "{path}: {source}; check the data folder's permissions, or delete the file to generate a new one"
    )]
    File {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file exists but does not hold what it should.
    #[error("{path}: {why}; delete the file to generate a new one")]
    Malformed {
        /// The file.
        path: String,
        /// What is wrong.
        why: &'static str,
    },
}

/// The hash key: `hash_key_env` (or `RAMPART_HASH_KEY`) derived into a key, else the 32 bytes
/// of `<data_dir>/hash.key`, generated on first start.
pub(crate) fn hash_key(env: Option<&str>, data_dir: &Path) -> Result<HashKey, SecretError> {
    match env {
        Some(var) => match std::env::var(var) {
            Ok(secret) if !secret.trim().is_empty() => {
                Ok(HashKey::derive(secret.trim().as_bytes()))
            }
            _ => Err(SecretError::MissingEnv {
                field: "hash_key_env",
                var: var.to_owned(),
            }),
        },
        None => match std::env::var(HASH_KEY_ENV) {
            Ok(secret) if !secret.trim().is_empty() => {
                Ok(HashKey::derive(secret.trim().as_bytes()))
            }
            _ => {
                let path = data_dir.join("hash.key");
                let bytes = read_or_create(&path, || random_bytes::<32>().to_vec())?;
                let bytes: [u8; 32] =
                    bytes
                        .as_slice()
                        .try_into()
                        .map_err(|_| SecretError::Malformed {
                            path: path.display().to_string(),
                            why: "a hash key file holds exactly 32 bytes",
                        })?;
                let key = HashKey::new(bytes);
                if key.is_zero() {
                    return Err(SecretError::Malformed {
                        path: path.display().to_string(),
                        why: "the hash key is all zeros",
                    });
                }
                Ok(key)
            }
        },
    }
}

/// The admin token of `<data_dir>/admin.token`, generated on first start (32 random bytes as
/// hex). Returns the token, the file, and whether it was created now.
pub(crate) fn admin_token(data_dir: &Path) -> Result<(String, PathBuf, bool), SecretError> {
    let path = data_dir.join("admin.token");
    let existed = path.exists();
    let bytes = read_or_create(&path, || {
        let mut hex = String::with_capacity(64);
        for b in random_bytes::<32>() {
            hex.push_str(&format!("{b:02x}"));
        }
        hex.into_bytes()
    })?;
    let token = String::from_utf8(bytes)
        .ok()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .ok_or(SecretError::Malformed {
            path: path.display().to_string(),
            why: "the admin token file must hold a non-empty UTF-8 token",
        })?;
    Ok((token, path, !existed))
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system provides random bytes");
    bytes
}

/// The file's bytes; when it does not exist, `make()` is written to it first, created with
/// mode 0600 and never replaced (two processes starting at once agree on one value).
fn read_or_create(path: &Path, make: impl FnOnce() -> Vec<u8>) -> Result<Vec<u8>, SecretError> {
    let err = |source| SecretError::File {
        path: path.display().to_string(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => {
            let bytes = make();
            file.write_all(&bytes)
                .and_then(|()| file.sync_all())
                .map_err(err)?;
            Ok(bytes)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(path).map_err(err)?.permissions().mode();
                if mode & 0o077 != 0 {
                    tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777), "a secret file is readable by others; tightening it to 0600");
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                        .map_err(err)?;
                }
            }
            std::fs::read(path).map_err(err)
        }
        Err(e) => Err(err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_is_private_reused_and_not_zero() {
        let dir = tempfile::tempdir().unwrap();
        let a = hash_key(None, dir.path()).unwrap();
        let b = hash_key(None, dir.path()).unwrap();
        assert_eq!(a, b);
        assert!(!a.is_zero());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("hash.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let other = tempfile::tempdir().unwrap();
        assert_ne!(a, hash_key(None, other.path()).unwrap());
    }

    #[test]
    fn a_bad_key_file_is_refused_with_a_fix() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hash.key"), b"short").unwrap();
        let e = hash_key(None, dir.path()).unwrap_err().to_string();
        assert!(e.contains("delete the file"), "{e}");
        let e = hash_key(Some("RAMPART_TEST_UNSET_VARIABLE"), dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("RAMPART_TEST_UNSET_VARIABLE is not set"), "{e}");
    }

    #[test]
    fn the_admin_token_is_generated_once() {
        let dir = tempfile::tempdir().unwrap();
        let (t1, path, created) = admin_token(dir.path()).unwrap();
        assert!(created);
        assert_eq!(t1.len(), 64);
        let (t2, _, created) = admin_token(dir.path()).unwrap();
        assert_eq!((t1, created), (t2, false));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
