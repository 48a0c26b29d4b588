//! Root rotation as staged, reviewable state (pki/rotation.yaml): at each stage, which root signs
//! a cluster's intermediate in `cacerts` and which roots its `root-cert.pem` bundle holds.

use serde::{Deserialize, Serialize};

/// The stages of the procedure the Sail Operator documents for switching a multi-cluster mesh's
/// root without downtime (facts §5), each rendered and synced in every cluster before the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// istiod runs with ISTIO_MULTIROOT_MESH and proxies with PROXY_CONFIG_XDS_AGENT; the CA
    /// material is unchanged.
    Prepare,
    /// Every cluster trusts both roots (old then new, byte-identical bundles); the old
    /// intermediates still sign.
    TrustBoth,
    /// New intermediates, signed by the new root, sign; both roots are still trusted.
    Switch,
    /// Only the new root is trusted.
    Finish,
}

/// Which root's generation a piece of `cacerts` comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    Current,
    Next,
}

impl Stage {
    pub const ALL: [Stage; 4] = [
        Stage::Prepare,
        Stage::TrustBoth,
        Stage::Switch,
        Stage::Finish,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Prepare => "prepare",
            Stage::TrustBoth => "trust-both",
            Stage::Switch => "switch",
            Stage::Finish => "finish",
        }
    }

    /// The generation whose intermediate signs (ca-cert, ca-key, and cert-chain's root).
    pub fn issuer(self) -> Generation {
        match self {
            Stage::Prepare | Stage::TrustBoth => Generation::Current,
            Stage::Switch | Stage::Finish => Generation::Next,
        }
    }

    /// The roots of `root-cert.pem`, in order. Old before new, so that each bundle contains the
    /// previous one byte for byte (istiod accepts a root change only then).
    pub fn bundle(self) -> &'static [Generation] {
        match self {
            Stage::Prepare => &[Generation::Current],
            Stage::TrustBoth | Stage::Switch => &[Generation::Current, Generation::Next],
            Stage::Finish => &[Generation::Next],
        }
    }

    /// The stage that must come before this one.
    pub fn previous(self) -> Option<Stage> {
        match self {
            Stage::Prepare => None,
            Stage::TrustBoth => Some(Stage::Prepare),
            Stage::Switch => Some(Stage::TrustBoth),
            Stage::Finish => Some(Stage::Switch),
        }
    }

    /// What to check in every cluster before moving on.
    pub fn verify_before_next(self) -> &'static str {
        match self {
            Stage::Prepare => {
                "istiod runs with ISTIO_MULTIROOT_MESH=true in every cluster, and workloads were restarted so their proxies carry PROXY_CONFIG_XDS_AGENT"
            }
            Stage::TrustBoth => {
                "every cluster's istiod reloaded cacerts and the proxies show both roots (istioctl proxy-config secret <pod> shows two trusted CAs); finish this in all clusters before switching"
            }
            Stage::Switch => {
                "istiod restarted in every cluster and workload certificates were reissued by the new intermediates; cross-cluster traffic still flows"
            }
            Stage::Finish => {
                "every proxy shows only the new root; restart any workload that still shows the old one"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bundle_contains_the_previous_one_as_istio_requires() {
        // Byte containment of bundles follows from containment of their root lists in order.
        let mut previous: &[Generation] = &[Generation::Current];
        for stage in Stage::ALL {
            let bundle = stage.bundle();
            let contains = |a: &[Generation], b: &[Generation]| a.windows(b.len()).any(|w| w == b);
            assert!(
                contains(bundle, previous) || contains(previous, bundle),
                "{stage:?}"
            );
            previous = bundle;
        }
        assert_eq!(Stage::Finish.bundle(), &[Generation::Next]);
    }

    #[test]
    fn the_new_root_is_trusted_everywhere_before_anything_it_signed_is_used() {
        for stage in Stage::ALL {
            if stage.issuer() == Generation::Next {
                assert!(stage.bundle().contains(&Generation::Next), "{stage:?}");
                assert!(
                    stage
                        .previous()
                        .is_some_and(|p| p.bundle().contains(&Generation::Next)),
                    "{stage:?}"
                );
            }
        }
    }
}
