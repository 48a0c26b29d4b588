//! The admin identities at hand, found where sops finds them — `SOPS_AGE_KEY` (one or more
//! keys), the file `SOPS_AGE_KEY_FILE` names, the user's `$XDG_CONFIG_HOME/sops/age/keys.txt`
//! (default `~/.config/sops/age/keys.txt`) — all that hold a key used together, as sops's key
//! sources are layered. (`SOPS_AGE_KEY_CMD` and SSH keys are not used.)

use std::path::PathBuf;

use zeroize::Zeroizing;

use super::error::SealError;
use crate::disk;
use crate::env::Env;
use crate::sops::Identities;

/// Every identity the environment gives, or `None` when none of its sources holds a key.
pub fn discover(env: &Env) -> Result<Option<Identities>, SealError> {
    let mut found: Option<Identities> = None;
    let mut add = |more: Option<Identities>| {
        if let Some(more) = more {
            match &mut found {
                Some(all) => all.extend(more),
                None => found = Some(more),
            }
        }
    };
    if let Some(text) = env.text("SOPS_AGE_KEY") {
        let text = Zeroizing::new(text);
        add(Identities::parse_optional(&text, "SOPS_AGE_KEY")
            .map_err(|source| SealError::Identity { source })?);
    }
    // The file SOPS_AGE_KEY_FILE names must exist; the user's keys.txt may not.
    if let Some(path) = env.path("SOPS_AGE_KEY_FILE") {
        let bytes = disk::read_small(&path)
            .map_err(|source| SealError::IdentityFile { source })?
            .ok_or_else(|| SealError::IdentityFile {
                source: disk::IoError::read(&path)(std::io::ErrorKind::NotFound.into()),
            })?;
        let text = Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned());
        add(
            Identities::parse_optional(&text, &path.display().to_string())
                .map_err(|source| SealError::Identity { source })?,
        );
    }
    if let Some(path) = user_keys_file(env)
        && let Some(bytes) =
            disk::read_small(&path).map_err(|source| SealError::IdentityFile { source })?
    {
        let text = Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned());
        add(
            Identities::parse_optional(&text, &path.display().to_string())
                .map_err(|source| SealError::Identity { source })?,
        );
    }
    Ok(found)
}

/// sops's user key file: `$XDG_CONFIG_HOME/sops/age/keys.txt`, else under `~/.config`.
fn user_keys_file(env: &Env) -> Option<PathBuf> {
    let config = env
        .path("XDG_CONFIG_HOME")
        .or_else(|| env.home().map(|h| h.join(".config")))?;
    Some(config.join("sops").join("age").join("keys.txt"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AGE-SECRET-KEY-1LGL9NGZEGMLAUY5RCT0XS2S8089DJLV6QNTUKLGDU4DTZYS5M60QEYTUGM";

    #[test]
    fn no_source_means_no_identity() {
        assert!(discover(&Env::default()).unwrap().is_none());
    }

    #[test]
    fn the_sources_are_used_together() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("sops/age/keys.txt");
        std::fs::create_dir_all(keys.parent().unwrap()).unwrap();
        std::fs::write(&keys, format!("# comment\n{KEY}\n")).unwrap();
        let config = dir.path().to_str().unwrap().to_owned();
        let env = Env::with(&[("SOPS_AGE_KEY", KEY), ("XDG_CONFIG_HOME", config.as_str())]);
        let found = discover(&env).unwrap().unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found.sources()[0], "SOPS_AGE_KEY");
    }

    #[test]
    fn a_named_key_file_that_is_missing_is_an_error() {
        let env = Env::with(&[("SOPS_AGE_KEY_FILE", "/nonexistent/keys.txt")]);
        assert!(matches!(
            discover(&env),
            Err(SealError::IdentityFile { .. })
        ));
    }
}
