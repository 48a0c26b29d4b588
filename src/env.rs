//! The process environment as data: the variables mesh-render reads, captured once by the
//! command line and handed down, so that no other module reads the environment itself (and a
//! test can give any environment it likes).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

/// The variables mesh-render reads.
pub const VARS: [&str; 6] = [
    "HOME",
    "XDG_DATA_HOME",
    "XDG_CONFIG_HOME",
    "SOPS_AGE_KEY",
    "SOPS_AGE_KEY_FILE",
    "KUBECONFIG",
];

/// The values of [`VARS`] (an empty value counts as unset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    vars: BTreeMap<&'static str, OsString>,
}

impl Env {
    /// The environment `lookup` gives (the command line passes `std::env::var_os`).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> Self {
        let vars = VARS
            .iter()
            .filter_map(|name| Some((*name, lookup(name).filter(|v| !v.is_empty())?)))
            .collect();
        Env { vars }
    }

    /// An environment with only these variables set.
    pub fn with(pairs: &[(&'static str, &str)]) -> Self {
        Env::from_lookup(|name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| OsString::from(v))
        })
    }

    pub fn get(&self, name: &str) -> Option<&OsString> {
        self.vars.get(name)
    }

    /// A variable as text (a value that is not UTF-8 is taken lossily).
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| v.to_string_lossy().into_owned())
    }

    /// A variable as a path.
    pub fn path(&self, name: &str) -> Option<PathBuf> {
        self.get(name).map(PathBuf::from)
    }

    /// The home directory.
    pub fn home(&self) -> Option<PathBuf> {
        self.path("HOME")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_variable_is_unset() {
        let env = Env::with(&[("HOME", ""), ("XDG_DATA_HOME", "/d")]);
        assert_eq!(env.home(), None);
        assert_eq!(env.path("XDG_DATA_HOME"), Some(PathBuf::from("/d")));
    }

    #[test]
    fn only_the_variables_mesh_render_reads_are_kept() {
        let env = Env::with(&[("PATH", "/bin")]);
        assert_eq!(env, Env::default());
    }
}
