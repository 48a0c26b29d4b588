//! Canary upgrades of the control plane, stage by stage: the stages, the revision a version's
//! control plane is named after, which upgrade paths are supported, the moves
//! `mesh-render upgrade` may make from one recorded stage to the next, and what each cluster
//! runs at its stage — which istiod releases with which revision tags, which revision the
//! `default` tag (and so every namespace labelled `istio-injection: enabled`) and the gateways
//! use, and at which chart version. Pure: the model turns the per-cluster plan into values.
//!
//! The mechanism is Istio's revision-based canary upgrade with revision tags (istio.io
//! docs/setup/upgrade/canary and docs/setup/upgrade/helm; the charts' `revisionTags` value,
//! `manifests/charts/istio-control/istio-discovery/templates/revision-tags*.yaml`): namespaces are
//! never relabelled, the tag `default` moves from the old revision to the new one.

use std::fmt;

use crate::config::names::ClusterName;
use crate::releases::{self, IstioVersion, ReleaseLine};

/// The stages of an upgrade, in order; each is rendered, reviewed and synced on every cluster
/// before the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// The new revision's istiod beside the old one, not yet default; the base chart (CRDs) at
    /// the new version. A control plane without a revision gets a tag named after its version,
    /// which the gateways are pinned to.
    InstallNew,
    /// The `default` tag moves to the new revision: namespaces that use `istio-injection:
    /// enabled` get the new sidecars when their workloads restart.
    MoveDefault,
    /// The gateways move to the new revision and its gateway chart.
    MoveGateways,
    /// The old revision is removed: `istio.version` becomes the new version (never recorded as
    /// a stage: it ends the upgrade).
    RemoveOld,
}

impl Stage {
    pub const ALL: [Stage; 4] = [
        Stage::InstallNew,
        Stage::MoveDefault,
        Stage::MoveGateways,
        Stage::RemoveOld,
    ];

    /// Its name in mesh.yaml and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Stage::InstallNew => "install-new",
            Stage::MoveDefault => "move-default",
            Stage::MoveGateways => "move-gateways",
            Stage::RemoveOld => "remove-old",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|stage| stage.name() == s)
    }

    /// The stage before it.
    pub fn previous(self) -> Option<Stage> {
        match self {
            Stage::InstallNew => None,
            Stage::MoveDefault => Some(Stage::InstallNew),
            Stage::MoveGateways => Some(Stage::MoveDefault),
            Stage::RemoveOld => Some(Stage::MoveGateways),
        }
    }

    /// The stage after it.
    pub fn next(self) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.previous() == Some(self))
    }

    /// Whether the stage can go cluster by cluster (`--clusters`).
    pub fn by_cluster(self) -> bool {
        matches!(self, Stage::MoveDefault | Stage::MoveGateways)
    }

    /// What to check on every cluster before the next stage.
    pub fn verify_before_next(self) -> &'static str {
        match self {
            Stage::InstallNew => {
                "both istiods are ready (`kubectl -n istio-system get deploy -l app=istiod`), the new one's reader ClusterRole exists (`kubectl get clusterrole -l app=istio-reader`), and `istioctl remote-clusters` lists every other cluster as synced"
            }
            Stage::MoveDefault => {
                "`kubectl get mutatingwebhookconfigurations -l istio.io/tag=default` names the new revision, every workload was restarted, and `istioctl proxy-status` shows the workloads on the new revision (the gateways still on the old one)"
            }
            Stage::MoveGateways => {
                "`istioctl proxy-status` shows every proxy, the gateways included, on the new revision, and cross-cluster traffic still flows (the sample's verification Job, `install.sh --verify`)"
            }
            Stage::RemoveOld => {
                "`kubectl -n istio-system get deploy -l app=istiod` shows only the new istiod"
            }
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An upgrade in progress, as mesh.yaml records it (`istio.upgrade`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    pub to: IstioVersion,
    /// The release-table row of `to`.
    pub release: &'static ReleaseLine,
    pub stage: Stage,
    /// For a stage that goes cluster by cluster: the clusters at `stage` (the others are at the
    /// stage before). Empty: every cluster.
    pub clusters: Vec<ClusterName>,
}

impl Upgrade {
    /// The stage `cluster` is at.
    pub fn stage_of(&self, cluster: &ClusterName) -> Stage {
        if self.clusters.is_empty() || self.clusters.contains(cluster) {
            self.stage
        } else {
            self.stage.previous().unwrap_or(self.stage)
        }
    }
}

/// The revision a version's control plane is named after: `1.30.3` -> `1-30-3`.
pub fn revision_name(version: &IstioVersion) -> String {
    format!("{}-{}-{}", version.major, version.minor, version.patch)
}

/// Why an upgrade path is not supported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("{to} is not newer than the mesh's {from}")]
    NotNewer {
        from: IstioVersion,
        to: IstioVersion,
    },
    #[error(
        "{from} to {to} skips more than one minor release line: Istio's canary upgrade supports going from 1.N to at most 1.N+2"
    )]
    TooFar {
        from: IstioVersion,
        to: IstioVersion,
        /// A known release to go by first.
        via: Option<IstioVersion>,
    },
    #[error("{to} is not a patch of a release line mesh-render knows ({known})")]
    UnknownTarget { to: IstioVersion, known: String },
    #[error(
        "the control plane of {from} has no revision, and Istio {line}'s istiod chart drops its revision tags together with its injector (`global.operatorManageWebhooks` also guards `revision-tags-mwc.yaml`), so the `default` tag cannot move while a tag keeps the gateways on the old control plane"
    )]
    NoRevisionToHandOver { from: IstioVersion, line: String },
}

impl PathError {
    /// What to do instead.
    pub fn fix(&self) -> String {
        match self {
            PathError::NotNewer { .. } => "name a newer release with --to".to_owned(),
            PathError::TooFar { via: Some(via), to, .. } => {
                format!("upgrade to {via} first, then from {via} to {to}")
            }
            PathError::TooFar { .. } => "upgrade one or two minor lines at a time".to_owned(),
            PathError::UnknownTarget { .. } => format!(
                "name a known release, e.g. {}",
                releases::newest_supported()
            ),
            PathError::NoRevisionToHandOver { .. } => "upgrade this mesh's control plane in place (Istio's in-place upgrade with helm), or reinstall it with `istio.revision` set (then `mesh-render upgrade` can move it canary-style)".to_owned(),
        }
    }
}

/// Whether `from` (with or without a revision) can be upgraded canary-style to `to`: a newer
/// known release of the same major, at most two minor lines on (istio.io docs/setup/upgrade:
/// canary upgrades may skip one minor release), and, for a control plane without a revision, a
/// line whose chart keeps revision tags when its injector is handed over.
pub fn check_path(
    from: &IstioVersion,
    from_revision: Option<&str>,
    to: &IstioVersion,
) -> Result<&'static ReleaseLine, PathError> {
    if to <= from {
        return Err(PathError::NotNewer {
            from: *from,
            to: *to,
        });
    }
    let Some(release) = releases::line_of(to) else {
        return Err(PathError::UnknownTarget {
            to: *to,
            known: releases::known_lines(),
        });
    };
    if to.major != from.major || to.minor > from.minor + 2 {
        let via = releases::LINES
            .iter()
            .filter(|l| {
                l.line.0 == from.major && l.line.1 <= from.minor + 2 && l.line.1 > from.minor
            })
            .map(ReleaseLine::newest)
            .max();
        return Err(PathError::TooFar {
            from: *from,
            to: *to,
            via,
        });
    }
    if from_revision.is_none() {
        let old_line = releases::line_of(from);
        if !old_line.is_some_and(|l| l.tags_outlive_injector) {
            return Err(PathError::NoRevisionToHandOver {
                from: *from,
                line: format!("{}.{}", from.major, from.minor),
            });
        }
    }
    Ok(release)
}

/// A move `mesh-render upgrade` refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no upgrade is in progress: an upgrade starts at stage install-new")]
    NotStarted { stage: Stage },
    #[error("--to is needed to start an upgrade")]
    NoTarget,
    #[error("an upgrade to {current} is in progress (stage {stage}); it cannot switch to {to}")]
    OtherTarget {
        current: IstioVersion,
        stage: Stage,
        to: IstioVersion,
    },
    #[error("stage {to} would skip stage {next}: the upgrade is at {at}")]
    Skipped { at: Stage, next: Stage, to: Stage },
    #[error("the upgrade is at {at}; it does not go back to {to}")]
    Backwards { at: Stage, to: Stage },
    #[error("stage {to} needs every cluster at {at} first; not yet: {}", names(.missing))]
    NotEveryCluster {
        at: Stage,
        to: Stage,
        missing: Vec<ClusterName>,
    },
    #[error(
        "stage {stage} goes to every cluster at once; --clusters is for move-default and move-gateways"
    )]
    NotByCluster { stage: Stage },
    #[error("--clusters: {} not a cluster of this mesh", names(.unknown))]
    UnknownClusters { unknown: Vec<ClusterName> },
    #[error("{0}")]
    Path(PathError),
}

fn names(clusters: &[ClusterName]) -> String {
    clusters
        .iter()
        .map(ClusterName::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Refusal {
    /// What to do instead.
    pub fn fix(&self) -> String {
        match self {
            Refusal::NotStarted { .. } => {
                "start with `mesh-render upgrade --to <version> --stage install-new`".to_owned()
            }
            Refusal::NoTarget => "pass --to <version>, e.g. --to 1.30.3".to_owned(),
            Refusal::OtherTarget { current, .. } => format!(
                "finish the upgrade to {current} first (stages up to remove-old), or leave --to out"
            ),
            Refusal::Skipped { next, .. } => format!(
                "render, review and sync stage {next} on every cluster first: `mesh-render upgrade --stage {next}`"
            ),
            Refusal::Backwards { at, to } => format!(
                "to roll back, set `istio.upgrade.stage: {to}` in mesh.yaml by hand and render (the stage {at} is undone by syncing it), or, before move-default, remove `istio.upgrade`"
            ),
            Refusal::NotEveryCluster { at, missing, .. } => format!(
                "`mesh-render upgrade --stage {at} --clusters {}` (or without --clusters for all), render and sync it first",
                missing
                    .iter()
                    .map(ClusterName::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Refusal::NotByCluster { stage } => {
                format!("run `mesh-render upgrade --stage {stage}` without --clusters")
            }
            Refusal::UnknownClusters { .. } => {
                "name clusters of mesh.yaml's `clusters` list".to_owned()
            }
            Refusal::Path(e) => e.fix(),
        }
    }
}

/// What `mesh-render upgrade` records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// `istio.upgrade` becomes this.
    Set {
        to: IstioVersion,
        stage: Stage,
        clusters: Vec<ClusterName>,
    },
    /// The upgrade ends: `istio.version` and `istio.revision` become these and `istio.upgrade`
    /// goes.
    Finish {
        version: IstioVersion,
        revision: String,
    },
}

/// The move from the mesh's state (`version`, its `revision`, the upgrade in progress) to
/// `stage` of the upgrade to `to` (needed only to start one), on `clusters` (empty: all of
/// `all`). A move stage may be given again with more clusters; the next stage needs every
/// cluster at the one before; none is skipped.
pub fn transition(
    version: &IstioVersion,
    revision: Option<&str>,
    current: Option<&Upgrade>,
    to: Option<IstioVersion>,
    stage: Stage,
    clusters: &[ClusterName],
    all: &[ClusterName],
) -> Result<Transition, Refusal> {
    let unknown: Vec<ClusterName> = clusters
        .iter()
        .filter(|c| !all.contains(c))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(Refusal::UnknownClusters { unknown });
    }
    if !clusters.is_empty() && !stage.by_cluster() {
        return Err(Refusal::NotByCluster { stage });
    }
    let Some(current) = current else {
        if stage != Stage::InstallNew {
            return Err(Refusal::NotStarted { stage });
        }
        let to = to.ok_or(Refusal::NoTarget)?;
        check_path(version, revision, &to).map_err(Refusal::Path)?;
        return Ok(Transition::Set {
            to,
            stage,
            clusters: Vec::new(),
        });
    };
    if let Some(to) = to
        && to != current.to
    {
        return Err(Refusal::OtherTarget {
            current: current.to,
            stage: current.stage,
            to,
        });
    }
    let at = current.stage;
    // Which clusters are at `stage` after the move.
    let listed = |base: &[ClusterName]| -> Vec<ClusterName> {
        if clusters.is_empty() {
            return Vec::new();
        }
        let mut at_stage: Vec<ClusterName> = base.to_vec();
        for c in clusters {
            if !at_stage.contains(c) {
                at_stage.push(c.clone());
            }
        }
        if all.iter().all(|c| at_stage.contains(c)) {
            Vec::new()
        } else {
            all.iter()
                .filter(|c| at_stage.contains(c))
                .cloned()
                .collect()
        }
    };
    if stage == at {
        let clusters = if current.clusters.is_empty() {
            Vec::new()
        } else {
            listed(&current.clusters)
        };
        return Ok(Transition::Set {
            to: current.to,
            stage,
            clusters,
        });
    }
    if stage < at {
        return Err(Refusal::Backwards { at, to: stage });
    }
    let next = at.next().unwrap_or(at);
    if stage != next {
        return Err(Refusal::Skipped {
            at,
            next,
            to: stage,
        });
    }
    if !current.clusters.is_empty() {
        return Err(Refusal::NotEveryCluster {
            at,
            to: stage,
            missing: all
                .iter()
                .filter(|c| !current.clusters.contains(c))
                .cloned()
                .collect(),
        });
    }
    if stage == Stage::RemoveOld {
        return Ok(Transition::Finish {
            version: current.to,
            revision: revision_name(&current.to),
        });
    }
    Ok(Transition::Set {
        to: current.to,
        stage,
        clusters: listed(&[]),
    })
}

/// Which control plane a release of istiod is, in an upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Part {
    /// No upgrade in progress: the mesh's one control plane.
    Only,
    Old,
    New,
}

/// One istiod release a cluster runs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ControlPlane {
    pub part: Part,
    /// The Helm release (and Deployment) name: `istiod` or `istiod-<revision>`.
    pub release: String,
    pub revision: Option<String>,
    pub version: String,
    #[serde(skip)]
    pub line: &'static ReleaseLine,
    /// Its values file under values/<cluster>/, without `.yaml`.
    pub values_file: String,
    /// Its revision tags (`revisionTags`): `default` on the revision the tag points at.
    pub tags: Vec<String>,
    /// Its own injector is dropped (`global.operatorManageWebhooks`): a control plane without a
    /// revision hands the `default` tag on; its tag keeps the gateways.
    pub hands_over_injector: bool,
}

/// The Istio charts one cluster runs at its stage.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Charts {
    /// The cluster's stage, during an upgrade.
    pub stage: Option<&'static str>,
    /// The version of the base chart (Istio's CRDs): the newest control plane's.
    pub base_version: String,
    /// The base chart's `defaultRevision`: the revision the default validator points at.
    pub default_revision: Option<String>,
    /// The istiod releases, the old one first (it gives up the `default` tag before the new one
    /// takes it).
    pub control_planes: Vec<ControlPlane>,
    /// The gateways' chart version and the revision their pods are injected by.
    pub gateway_version: String,
    #[serde(skip)]
    pub gateway_line: &'static ReleaseLine,
    pub gateway_revision: Option<String>,
    /// For the README: the control plane the `default` tag (namespaces with `istio-injection:
    /// enabled`) and the gateways use, as `1.26.0 (istiod)`.
    pub workloads_use: String,
    pub gateways_use: String,
}

/// The charts of a cluster at `stage` (`None`: no upgrade in progress) of the mesh on `version`
/// (`line`, with `revision`) upgrading to `upgrade`.
pub fn charts(
    version: &IstioVersion,
    line: &'static ReleaseLine,
    revision: Option<&str>,
    upgrade: Option<(&Upgrade, Stage)>,
) -> Charts {
    let release_of = |rev: Option<&str>| match rev {
        Some(rev) => format!("istiod-{rev}"),
        None => "istiod".to_owned(),
    };
    let only = ControlPlane {
        part: Part::Only,
        release: release_of(revision),
        revision: revision.map(str::to_owned),
        version: version.to_string(),
        line,
        values_file: "istiod".to_owned(),
        tags: revision
            .map(|_| vec!["default".to_owned()])
            .unwrap_or_default(),
        hands_over_injector: false,
    };
    let uses = |cp: &ControlPlane| format!("{} ({})", cp.version, cp.release);
    let Some((upgrade, stage)) = upgrade else {
        return Charts {
            stage: None,
            base_version: version.to_string(),
            default_revision: revision.map(str::to_owned),
            gateway_version: version.to_string(),
            gateway_line: line,
            gateway_revision: revision.map(str::to_owned),
            workloads_use: uses(&only),
            gateways_use: uses(&only),
            control_planes: vec![only],
        };
    };
    let new_rev = revision_name(&upgrade.to);
    // A control plane without a revision keeps its gateways with a tag named after its version.
    let old_pin = match revision {
        Some(rev) => rev.to_owned(),
        None => revision_name(version),
    };
    let moved_default = stage >= Stage::MoveDefault;
    let moved_gateways = stage >= Stage::MoveGateways;
    let mut old = only;
    old.part = Part::Old;
    old.tags = match (revision, moved_default) {
        (Some(_), false) => vec!["default".to_owned()],
        (Some(_), true) => Vec::new(),
        (None, _) => vec![old_pin.clone()],
    };
    old.hands_over_injector = revision.is_none() && moved_default;
    let new = ControlPlane {
        part: Part::New,
        release: release_of(Some(&new_rev)),
        revision: Some(new_rev.clone()),
        version: upgrade.to.to_string(),
        line: upgrade.release,
        values_file: format!("istiod-{new_rev}"),
        tags: if moved_default {
            vec!["default".to_owned()]
        } else {
            Vec::new()
        },
        hands_over_injector: false,
    };
    let workloads_use = uses(if moved_default { &new } else { &old });
    let gateways_use = uses(if moved_gateways { &new } else { &old });
    Charts {
        stage: Some(stage.name()),
        base_version: upgrade.to.to_string(),
        default_revision: if moved_default {
            Some(new_rev.clone())
        } else {
            revision.map(str::to_owned)
        },
        gateway_version: if moved_gateways {
            upgrade.to.to_string()
        } else {
            version.to_string()
        },
        gateway_line: if moved_gateways {
            upgrade.release
        } else {
            line
        },
        gateway_revision: Some(if moved_gateways { new_rev } else { old_pin }),
        workloads_use,
        gateways_use,
        control_planes: vec![old, new],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> IstioVersion {
        IstioVersion::parse(s).unwrap()
    }

    fn c(s: &str) -> ClusterName {
        ClusterName::parse(s).unwrap()
    }

    fn at(stage: Stage, clusters: &[&str]) -> Upgrade {
        let to = v("1.28.10");
        Upgrade {
            to,
            release: releases::line_of(&to).unwrap(),
            stage,
            clusters: clusters.iter().map(|s| c(s)).collect(),
        }
    }

    #[test]
    fn a_revision_is_named_after_its_version() {
        assert_eq!(revision_name(&v("1.30.3")), "1-30-3");
    }

    #[test]
    fn a_canary_may_skip_one_minor_line_and_no_more() {
        assert!(check_path(&v("1.26.0"), None, &v("1.28.10")).is_ok());
        let err = check_path(&v("1.26.0"), None, &v("1.30.3")).unwrap_err();
        assert_eq!(
            err,
            PathError::TooFar {
                from: v("1.26.0"),
                to: v("1.30.3"),
                via: Some(v("1.28.10"))
            }
        );
        assert!(err.fix().contains("1.28.10 first"));
        assert!(matches!(
            check_path(&v("1.28.10"), Some("1-28-10"), &v("1.28.9")),
            Err(PathError::NotNewer { .. })
        ));
        assert!(matches!(
            check_path(&v("1.28.10"), Some("1-28-10"), &v("1.27.1")),
            Err(PathError::NotNewer { .. })
        ));
    }

    #[test]
    fn a_control_plane_without_a_revision_moves_only_from_a_line_whose_tags_outlive_its_injector() {
        assert!(check_path(&v("1.26.8"), None, &v("1.28.10")).is_ok());
        assert!(matches!(
            check_path(&v("1.28.10"), None, &v("1.30.3")),
            Err(PathError::NoRevisionToHandOver { .. })
        ));
        assert!(check_path(&v("1.28.10"), Some("1-28-10"), &v("1.30.3")).is_ok());
    }

    #[test]
    fn an_upgrade_starts_at_install_new_and_never_skips_a_stage() {
        let all = [c("a"), c("b")];
        let start = |stage| {
            transition(
                &v("1.26.0"),
                None,
                None,
                Some(v("1.28.10")),
                stage,
                &[],
                &all,
            )
        };
        assert!(matches!(
            start(Stage::InstallNew),
            Ok(Transition::Set { .. })
        ));
        assert!(matches!(
            start(Stage::MoveDefault),
            Err(Refusal::NotStarted { .. })
        ));
        let skip = transition(
            &v("1.26.0"),
            None,
            Some(&at(Stage::InstallNew, &[])),
            None,
            Stage::MoveGateways,
            &[],
            &all,
        );
        assert_eq!(
            skip,
            Err(Refusal::Skipped {
                at: Stage::InstallNew,
                next: Stage::MoveDefault,
                to: Stage::MoveGateways
            })
        );
    }

    #[test]
    fn a_move_goes_cluster_by_cluster_and_the_next_stage_waits_for_all() {
        let all = [c("a"), c("b")];
        let one = transition(
            &v("1.26.0"),
            None,
            Some(&at(Stage::InstallNew, &[])),
            None,
            Stage::MoveDefault,
            &[c("a")],
            &all,
        );
        assert_eq!(
            one,
            Ok(Transition::Set {
                to: v("1.28.10"),
                stage: Stage::MoveDefault,
                clusters: vec![c("a")]
            })
        );
        let partial = at(Stage::MoveDefault, &["a"]);
        assert_eq!(partial.stage_of(&c("a")), Stage::MoveDefault);
        assert_eq!(partial.stage_of(&c("b")), Stage::InstallNew);
        let early = transition(
            &v("1.26.0"),
            None,
            Some(&partial),
            None,
            Stage::MoveGateways,
            &[],
            &all,
        );
        assert!(
            matches!(early, Err(Refusal::NotEveryCluster { ref missing, .. }) if missing == &vec![c("b")])
        );
        let rest = transition(
            &v("1.26.0"),
            None,
            Some(&partial),
            None,
            Stage::MoveDefault,
            &[c("b")],
            &all,
        );
        assert_eq!(
            rest,
            Ok(Transition::Set {
                to: v("1.28.10"),
                stage: Stage::MoveDefault,
                clusters: vec![]
            })
        );
    }

    #[test]
    fn remove_old_ends_the_upgrade_with_the_new_version_and_its_revision() {
        let all = [c("a")];
        let done = transition(
            &v("1.26.0"),
            None,
            Some(&at(Stage::MoveGateways, &[])),
            None,
            Stage::RemoveOld,
            &[],
            &all,
        );
        assert_eq!(
            done,
            Ok(Transition::Finish {
                version: v("1.28.10"),
                revision: "1-28-10".to_owned()
            })
        );
    }

    #[test]
    fn the_default_tag_and_the_gateways_move_at_their_own_stages() {
        let line = releases::line_of(&v("1.26.0")).unwrap();
        let up = at(Stage::InstallNew, &[]);
        let plan = |stage| charts(&v("1.26.0"), line, None, Some((&up, stage)));
        let install = plan(Stage::InstallNew);
        assert_eq!(install.control_planes[0].tags, vec!["1-26-0"]);
        assert!(install.control_planes[1].tags.is_empty());
        assert_eq!(install.gateway_revision.as_deref(), Some("1-26-0"));
        assert_eq!(install.base_version, "1.28.10");
        let moved = plan(Stage::MoveDefault);
        assert!(moved.control_planes[0].hands_over_injector);
        assert_eq!(moved.control_planes[1].tags, vec!["default"]);
        assert_eq!(moved.gateway_version, "1.26.0");
        let gateways = plan(Stage::MoveGateways);
        assert_eq!(gateways.gateway_revision.as_deref(), Some("1-28-10"));
        assert_eq!(gateways.gateway_version, "1.28.10");
    }
}
