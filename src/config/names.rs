//! Validated names of the mesh description: each type proves its value is usable where Kubernetes
//! and Istio will put it (a cluster name becomes a DNS label, a network becomes a label value).

use std::fmt;

use serde::Serialize;

/// Why a string is not a valid name, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub problem: String,
    pub fix: String,
}

/// Declares a string newtype that serializes as its string and displays as it.
macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_newtype!(
    /// A cluster's name: Istio's `clusterName` (`CLUSTER_ID`), a remote secret's key and a
    /// directory name; a DNS-1123 label.
    ClusterName
);
string_newtype!(
    /// A network name: the `topology.istio.io/network` label value and `global.network`.
    NetworkName
);
string_newtype!(
    /// The mesh ID every istiod shares (`global.meshID`).
    MeshId
);
string_newtype!(
    /// The SPIFFE trust domain (`meshConfig.trustDomain`).
    TrustDomain
);
string_newtype!(
    /// A kubeconfig context name.
    ContextName
);
string_newtype!(
    /// An Istio control-plane revision (`istio.io/rev`), a DNS-1123 label.
    Revision
);
string_newtype!(
    /// An age X25519 recipient (`age1...`), to which files are encrypted.
    AgeRecipient
);
string_newtype!(
    /// A container image reference or image repository prefix.
    ImageRef
);

impl ClusterName {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        dns1123_label(s, "cluster name").map(|()| Self(s.to_owned()))
    }
}

impl NetworkName {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        label_value(s, "network").map(|()| Self(s.to_owned()))
    }

    /// A network name none of `taken` has, in their own pattern: the lowest free number after
    /// the prefix most of them share (`net-3` after `net-1` and `net-2`, `network02` after
    /// `network01`); names with no numbering lead to `network<N>`.
    pub fn unused_like(taken: &[&str]) -> String {
        // The prefix most names share before their trailing number, the first seen on a tie.
        let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
        for name in taken {
            let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
            if digits == 0 || digits > 9 {
                continue;
            }
            let (prefix, number) = name.split_at(name.len() - digits);
            match groups.iter_mut().find(|(p, _)| *p == prefix) {
                Some((_, numbers)) => numbers.push(number),
                None => groups.push((prefix, vec![number])),
            }
        }
        let best = groups
            .iter()
            .enumerate()
            .max_by_key(|(i, (_, numbers))| (numbers.len(), std::cmp::Reverse(*i)))
            .map(|(_, group)| group);
        let in_pattern = best.and_then(|(prefix, numbers)| {
            // Zero-padded numbers (`01`) keep their width.
            let padded = numbers.iter().any(|n| n.len() > 1 && n.starts_with('0'));
            let width = if padded {
                numbers.iter().map(|n| n.len()).max().unwrap_or(1)
            } else {
                1
            };
            let lowest = numbers.iter().filter_map(|n| n.parse::<u64>().ok()).min();
            first_free(prefix, width, lowest.unwrap_or(1), taken)
        });
        in_pattern
            .or_else(|| first_free("network", 1, taken.len() as u64 + 1, taken))
            .unwrap_or_else(|| "network".to_owned())
    }
}

/// The first `{prefix}{n}` from `start` on that no name in `taken` has, if it is a network name.
fn first_free(prefix: &str, width: usize, start: u64, taken: &[&str]) -> Option<String> {
    (start..start + taken.len() as u64 + 1)
        .map(|n| format!("{prefix}{n:0width$}"))
        .find(|name| !taken.contains(&name.as_str()))
        .filter(|name| NetworkName::parse(name).is_ok())
}

impl MeshId {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        label_value(s, "meshID").map(|()| Self(s.to_owned()))
    }
}

impl TrustDomain {
    /// A trust domain is a DNS name: dot-separated DNS-1123 labels, at most 253 characters.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let fix = "use a DNS name such as cluster.local".to_owned();
        if s.is_empty() || s.len() > 253 {
            return Err(Invalid {
                problem: format!("trust domain {s:?} must be 1 to 253 characters"),
                fix,
            });
        }
        for label in s.split('.') {
            if dns1123_label(label, "label").is_err() {
                return Err(Invalid {
                    problem: format!("trust domain {s:?} is not a DNS name"),
                    fix,
                });
            }
        }
        Ok(Self(s.to_owned()))
    }
}

impl Revision {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        dns1123_label(s, "revision")?;
        if s == "default" {
            return Err(Invalid {
                problem: "\"default\" is the name of Istio's default revision tag, not a revision"
                    .to_owned(),
                fix:
                    "name the revision after the release, e.g. \"1-26-0\", or leave `revision` out"
                        .to_owned(),
            });
        }
        Ok(Self(s.to_owned()))
    }
}

impl AgeRecipient {
    /// `age1` followed by 58 lowercase bech32 characters (a 32-byte X25519 key and checksum).
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        const BECH32: &str = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
        let ok =
            s.len() == 62 && s.starts_with("age1") && s[4..].chars().all(|c| BECH32.contains(c));
        if !ok {
            return Err(Invalid {
                problem: format!("{s:?} is not an age recipient (age1 followed by 58 bech32 characters)"),
                fix: "paste the public key that `age-keygen -y KEYFILE` prints (never the AGE-SECRET-KEY)".to_owned(),
            });
        }
        Ok(Self(s.to_owned()))
    }
}

impl ContextName {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.trim().is_empty() {
            return Err(Invalid {
                problem: "the kubeconfig context is empty".to_owned(),
                fix: "name a context from `kubectl config get-contexts`, or leave the field out \
                      to use the cluster name"
                    .to_owned(),
            });
        }
        Ok(Self(s.to_owned()))
    }
}

impl ImageRef {
    /// Accepts what a container runtime accepts as a reference or repository prefix: no
    /// whitespace, not empty, no scheme.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let bad = s.is_empty()
            || s.contains("://")
            || s.chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\'');
        if bad {
            return Err(Invalid {
                problem: format!("{s:?} is not a container image reference"),
                fix: "write it as registry/repository[:tag], e.g. docker.io/istio".to_owned(),
            });
        }
        Ok(Self(s.to_owned()))
    }
}

/// RFC 1123 label: lowercase alphanumerics and '-', alphanumeric at both ends, 1..=63 chars.
pub fn dns1123_label(s: &str, what: &str) -> Result<(), Invalid> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        return Ok(());
    }
    let suggestion = suggest_dns1123_label(s);
    let fix = match suggestion {
        Some(name) => format!("rename it, e.g. {name:?}"),
        None => "use lowercase letters, digits and '-'".to_owned(),
    };
    Err(Invalid {
        problem: format!(
            "{what} {s:?} is not a DNS-1123 label (lowercase letters, digits and '-', \
             starting and ending with a letter or digit, at most 63 characters)"
        ),
        fix,
    })
}

/// The DNS-1123 label closest to `s`: lowercased, other characters turned into '-', runs of '-'
/// collapsed, trimmed to 63 characters.
pub fn suggest_dns1123_label(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed: String = out.trim_matches('-').chars().take(63).collect();
    let trimmed = trimmed.trim_end_matches('-').to_owned();
    (!trimmed.is_empty()).then_some(trimmed)
}

/// Kubernetes label value: at most 63 characters of alphanumerics, '-', '_' and '.', with an
/// alphanumeric at both ends. Unlike a label value we also require it to be non-empty.
fn label_value(s: &str, what: &str) -> Result<(), Invalid> {
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && alnum(s.chars().next())
        && alnum(s.chars().last());
    if ok {
        return Ok(());
    }
    Err(Invalid {
        problem: format!(
            "{what} {s:?} is not a valid Kubernetes label value (letters, digits, '-', '_' and \
             '.', starting and ending with a letter or digit, at most 63 characters)"
        ),
        fix: format!("choose a {what} such as \"network1\""),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unused_network_follows_the_names_own_numbering() {
        assert_eq!(
            NetworkName::unused_like(&["net-1", "net-2", "net-2"]),
            "net-3"
        );
        assert_eq!(
            NetworkName::unused_like(&["network1", "network1"]),
            "network2"
        );
        assert_eq!(
            NetworkName::unused_like(&["net-01", "net-02", "net-02"]),
            "net-03"
        );
        assert_eq!(
            NetworkName::unused_like(&["zone7", "net-1", "net-5", "net-5"]),
            "net-2"
        );
        assert_eq!(
            NetworkName::unused_like(&["network1", "network1", "network3"]),
            "network2"
        );
    }

    #[test]
    fn an_unused_network_without_a_numbering_is_network_n() {
        assert_eq!(NetworkName::unused_like(&["east", "east"]), "network3");
        assert_eq!(
            NetworkName::unused_like(&["east", "network3", "west"]),
            "network4"
        );
    }

    #[test]
    fn dns1123_accepts_seed_cluster_names() {
        for name in ["kt-k2p", "ncloud-nks", "nhn-nks", "a", "c0"] {
            assert!(ClusterName::parse(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn dns1123_rejects_upper_case_underscores_and_edges() {
        for name in ["KT", "kt_k2p", "-a", "a-", "", &"a".repeat(64), "a.b"] {
            assert!(ClusterName::parse(name).is_err(), "{name}");
        }
    }

    #[test]
    fn suggestion_is_itself_a_valid_label() {
        assert_eq!(
            suggest_dns1123_label("KT_K2P.prod").as_deref(),
            Some("kt-k2p-prod")
        );
        assert_eq!(suggest_dns1123_label("__"), None);
        let long = suggest_dns1123_label(&"Ab_".repeat(40)).unwrap();
        assert!(ClusterName::parse(&long).is_ok(), "{long}");
    }

    #[test]
    fn network_allows_label_value_characters() {
        assert!(NetworkName::parse("net_1.east").is_ok());
        assert!(NetworkName::parse("net 1").is_err());
        assert!(NetworkName::parse("").is_err());
    }

    #[test]
    fn trust_domain_is_a_dns_name() {
        assert!(TrustDomain::parse("cluster.local").is_ok());
        assert!(TrustDomain::parse("Cluster.local").is_err());
        assert!(TrustDomain::parse("a..b").is_err());
    }
}

/// The fingerprint of the mesh's root certificate: the SHA-256 of its DER, written
/// `sha256:<64 lowercase hex digits>` (`openssl x509 -in root.pem -outform DER | sha256sum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RootFingerprint([u8; 32]);

impl RootFingerprint {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let invalid = || {
            Invalid {
            problem: format!("{s:?} is not a root fingerprint (sha256: and 64 hex digits)"),
            fix: "leave it as the render that issued the root wrote it, or set it to `sha256:` and the output of `openssl x509 -in root.pem -outform DER | sha256sum`".to_owned(),
        }
        };
        let hex = s.strip_prefix("sha256:").ok_or_else(invalid)?;
        if hex.len() != 64 {
            return Err(invalid());
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2).ok_or_else(invalid)?, 16)
                .map_err(|_| invalid())?;
        }
        Ok(Self(bytes))
    }

    /// The fingerprint of a certificate's DER.
    pub fn of_der(der: &[u8]) -> Self {
        Self(crate::digest::sha256(der))
    }
}

impl fmt::Display for RootFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256:")?;
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}
