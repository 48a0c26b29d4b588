//! The Istio releases mesh-render knows, one row per release line, with the facts that differ by
//! release: the newest patch known, the charts' default image hub, which patches' gateway chart
//! rejects its own defaults under schema validation, the Gateway API release Istio is built
//! against, the sample's images, the Kubernetes versions the line supports and its end of life.
//! Each fact is read from upstream at the release's tag (cited per row); `tests/releases.rs`
//! compares the rows with the charts in `../shared/upstream/istio-charts/` and the README's
//! supported-releases table with the rows. Pure data.

/// An Istio release version; the release table below says which lines are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct IstioVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl IstioVersion {
    /// `MAJOR.MINOR.PATCH`, each a number; anything else is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        let parts: Vec<Option<u32>> = text.split('.').map(|s| s.parse().ok()).collect();
        match parts.as_slice() {
            [Some(major), Some(minor), Some(patch)] => Some(IstioVersion {
                major: *major,
                minor: *minor,
                patch: *patch,
            }),
            _ => None,
        }
    }
}

impl std::fmt::Display for IstioVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// One release line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseLine {
    /// `(major, minor)`.
    pub line: (u32, u32),
    /// The newest patch of the line mesh-render knows.
    pub newest_patch: u32,
    /// The registry the charts pull Istio's images from by default (istiod values
    /// `_internal_defaults_do_not_set.global.hub` as released).
    pub default_hub: &'static str,
    /// The patches whose gateway chart fails Helm's schema validation of its own defaults
    /// (istio/istio#57354): installed with `--skip-schema-validation` / `disableSchemaValidation`.
    pub gateway_schema_broken: Option<(u32, u32)>,
    /// The Gateway API release the line is built against (`sigs.k8s.io/gateway-api` in
    /// istio/istio's `go.mod` at the newest known patch): its standard CRDs are what out/base/
    /// references by default.
    pub gateway_api: &'static str,
    /// The registry of the bookinfo reviews images in the line's
    /// `samples/bookinfo/platform/kube/bookinfo.yaml` (tag 1.20.3 on every known line).
    pub sample_reviews_hub: &'static str,
    /// The sleep workload's image: the line's `samples/curl/curl.yaml` (`docker.io/curlimages/curl:8.16.0`
    /// from 1.26.7); for 1.26, whose first patches leave it untagged, the seed's pinned tag.
    pub sample_curl_image: &'static str,
    /// The Kubernetes minor versions (1.x) the line is tested with and supported on
    /// (istio.io, "Supported Releases").
    pub kubernetes: (u32, u32),
    /// The Kubernetes minor version below which `istioctl x precheck` refuses
    /// (`istioctl/pkg/install/k8sversion/version.go`, `MinK8SVersion`, at the newest known patch).
    pub precheck_min_kubernetes: u32,
    /// The date the line reached its end of life upstream (no more patches), if it has.
    pub end_of_life: Option<&'static str>,
    /// Whether the istiod chart still renders its revision tags' webhooks when
    /// `global.operatorManageWebhooks` drops its own injector (`templates/revision-tags.yaml` has
    /// no such guard up to 1.26; `revision-tags-mwc.yaml` from 1.28 has): a control plane without
    /// a revision can then hand the default tag on while a tag of its own keeps the gateways.
    pub tags_outlive_injector: bool,
}

impl ReleaseLine {
    /// The newest known patch, as a version.
    pub fn newest(&self) -> IstioVersion {
        IstioVersion {
            major: self.line.0,
            minor: self.line.1,
            patch: self.newest_patch,
        }
    }

    /// The line as `1.30`.
    pub fn name(&self) -> String {
        format!("{}.{}", self.line.0, self.line.1)
    }

    /// The URL of the line's Gateway API standard CRDs (the release asset).
    pub fn gateway_api_crds(&self) -> String {
        format!(
            "https://github.com/kubernetes-sigs/gateway-api/releases/download/{}/standard-install.yaml",
            self.gateway_api
        )
    }

    /// Whether `patch` of this line needs the gateway chart's schema validation off.
    pub fn skips_gateway_schema(&self, patch: u32) -> bool {
        self.gateway_schema_broken
            .is_some_and(|(first, last)| (first..=last).contains(&patch))
    }
}

/// The known lines, oldest first. 1.27 is left out: it reached its end of life before 1.30,
/// and nobody starts on it now.
pub const LINES: &[ReleaseLine] = &[
    // istio/istio@1.26.8 (the last 1.26 patch, 2025-12-13); the 1.26.0-1.26.3 gateway schema bug
    // was fixed in 1.26.4 (istio/istio#57354); go.mod: gateway-api v1.3.0 (1.26.0: a v1.3.0
    // pre-release, so v1.3.0 for the line); MinK8SVersion 29. Charts:
    // ../shared/upstream/istio-charts/1.26.{0,8}/.
    ReleaseLine {
        line: (1, 26),
        newest_patch: 8,
        default_hub: "docker.io/istio",
        gateway_schema_broken: Some((0, 3)),
        gateway_api: "v1.3.0",
        sample_reviews_hub: "docker.io/istio",
        sample_curl_image: "docker.io/curlimages/curl:8.14.1",
        kubernetes: (29, 33),
        precheck_min_kubernetes: 29,
        end_of_life: Some("2025-12-22"),
        tags_outlive_injector: true,
    },
    // istio/istio@1.28.10 (2026-06-29, the last 1.28 patch: the line ended six weeks after
    // 1.30.0, on 2026-07-01); go.mod: gateway-api v1.4.1; MinK8SVersion 30;
    // ../shared/upstream/istio-charts/1.28.10/.
    ReleaseLine {
        line: (1, 28),
        newest_patch: 10,
        default_hub: "docker.io/istio",
        gateway_schema_broken: None,
        gateway_api: "v1.4.1",
        sample_reviews_hub: "docker.io/istio",
        sample_curl_image: "docker.io/curlimages/curl:8.16.0",
        kubernetes: (30, 34),
        precheck_min_kubernetes: 30,
        end_of_life: Some("2026-07-01"),
        tags_outlive_injector: false,
    },
    // istio/istio@1.29.6; go.mod: gateway-api v1.4.1; MinK8SVersion 30;
    // ../shared/upstream/istio-charts/1.29.6/.
    ReleaseLine {
        line: (1, 29),
        newest_patch: 6,
        default_hub: "docker.io/istio",
        gateway_schema_broken: None,
        gateway_api: "v1.4.1",
        sample_reviews_hub: "docker.io/istio",
        sample_curl_image: "docker.io/curlimages/curl:8.16.0",
        kubernetes: (31, 35),
        precheck_min_kubernetes: 30,
        end_of_life: None,
        tags_outlive_injector: false,
    },
    // istio/istio@1.30.3: from the 1.30 line the charts and the samples default to
    // registry.istio.io/release; go.mod: gateway-api v1.5.1; MinK8SVersion 32;
    // ../shared/upstream/istio-charts/1.30.3/.
    ReleaseLine {
        line: (1, 30),
        newest_patch: 3,
        default_hub: "registry.istio.io/release",
        gateway_schema_broken: None,
        gateway_api: "v1.5.1",
        sample_reviews_hub: "registry.istio.io/release",
        sample_curl_image: "docker.io/curlimages/curl:8.16.0",
        kubernetes: (32, 36),
        precheck_min_kubernetes: 32,
        end_of_life: None,
        tags_outlive_injector: false,
    },
];

/// The row of `version`'s line, if mesh-render knows it.
pub fn line_of(version: &IstioVersion) -> Option<&'static ReleaseLine> {
    LINES
        .iter()
        .find(|l| l.line == (version.major, version.minor))
}

/// The newest line known.
pub fn newest() -> &'static ReleaseLine {
    LINES.last().expect("the table is not empty")
}

/// The known lines as `1.26, 1.28, 1.29, 1.30`, for messages.
pub fn known_lines() -> String {
    LINES
        .iter()
        .map(ReleaseLine::name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The newest patch of the newest line that has not reached its end of life.
pub fn newest_supported() -> IstioVersion {
    LINES
        .iter()
        .rev()
        .find(|l| l.end_of_life.is_none())
        .unwrap_or_else(|| newest())
        .newest()
}

/// The README's supported-releases table: one row per known line, newest first.
pub fn readme_table() -> String {
    let mut out = String::from(
        "| Release line | Newest known patch | Image hub | Gateway API | Kubernetes | `istioctl x precheck` minimum | End of life |\n|---|---|---|---|---|---|---|\n",
    );
    for l in LINES.iter().rev() {
        out.push_str(&format!(
            "| {} | {} | `{}` | {} | 1.{}–1.{} | 1.{} | {} |\n",
            l.name(),
            l.newest(),
            l.default_hub,
            l.gateway_api,
            l.kubernetes.0,
            l.kubernetes.1,
            l.precheck_min_kubernetes,
            l.end_of_life
                .map_or_else(|| "supported".to_owned(), |date| format!("{date} (ended)")),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> IstioVersion {
        IstioVersion::parse(s).unwrap()
    }

    #[test]
    fn a_version_is_three_numbers() {
        assert_eq!(v("1.30.3").to_string(), "1.30.3");
        for bad in ["1.30", "1.30.x", "v1.30.3", "1.30.3.1", ""] {
            assert!(IstioVersion::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn every_patch_of_a_known_line_finds_its_row_and_no_other_does() {
        assert_eq!(line_of(&v("1.26.0")).unwrap().line, (1, 26));
        assert_eq!(line_of(&v("1.30.9")).unwrap().line, (1, 30));
        assert!(line_of(&v("1.27.0")).is_none());
        assert!(line_of(&v("1.31.0")).is_none());
        assert_eq!(known_lines(), "1.26, 1.28, 1.29, 1.30");
        assert_eq!(newest().newest().to_string(), "1.30.3");
    }

    #[test]
    fn only_1_26_0_to_1_26_3_skip_the_gateway_schema() {
        let l126 = line_of(&v("1.26.0")).unwrap();
        assert!(l126.skips_gateway_schema(0) && l126.skips_gateway_schema(3));
        assert!(!l126.skips_gateway_schema(4));
        assert!(LINES[1..].iter().all(|l| !l.skips_gateway_schema(0)));
    }

    #[test]
    fn the_lines_are_in_order_and_the_ended_ones_come_first() {
        assert!(LINES.windows(2).all(|w| w[0].line < w[1].line));
        assert!(
            LINES
                .windows(2)
                .all(|w| w[0].end_of_life.is_some() || w[1].end_of_life.is_none())
        );
        assert_eq!(newest_supported().to_string(), "1.30.3");
    }

    #[test]
    fn the_gateway_api_url_is_the_release_asset_of_the_lines_pin() {
        assert_eq!(
            LINES[0].gateway_api_crds(),
            "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.3.0/standard-install.yaml"
        );
        assert!(newest().gateway_api_crds().contains("/v1.5.1/"));
    }
}
