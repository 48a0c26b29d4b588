//! The Istio releases mesh-render knows, one row per release line, with the facts that differ by
//! release: the newest patch known, the charts' default image hub, which patches' gateway chart
//! rejects its own defaults under schema validation, and whether the line has reached its end of
//! life. Each fact is read from upstream at the release's tag (cited per row); `tests/releases.rs`
//! compares the rows with the charts in `../shared/upstream/istio-charts/`. Pure data.

use crate::config::IstioVersion;

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
    /// Past its end of life: no more patches upstream.
    pub end_of_life: bool,
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

    /// Whether `patch` of this line needs the gateway chart's schema validation off.
    pub fn skips_gateway_schema(&self, patch: u32) -> bool {
        self.gateway_schema_broken
            .is_some_and(|(first, last)| (first..=last).contains(&patch))
    }
}

/// The known lines, oldest first.
pub const LINES: &[ReleaseLine] = &[
    // istio/istio@1.26.8 (the last 1.26 patch); the 1.26.0-1.26.3 gateway schema bug was fixed in
    // 1.26.4 (istio/istio#57354). Charts: ../shared/upstream/istio-charts/1.26.{0,8}/.
    ReleaseLine {
        line: (1, 26),
        newest_patch: 8,
        default_hub: "docker.io/istio",
        gateway_schema_broken: Some((0, 3)),
        end_of_life: true,
    },
    // istio/istio@1.28.10; ../shared/upstream/istio-charts/1.28.10/.
    ReleaseLine {
        line: (1, 28),
        newest_patch: 10,
        default_hub: "docker.io/istio",
        gateway_schema_broken: None,
        end_of_life: false,
    },
    // istio/istio@1.29.6; ../shared/upstream/istio-charts/1.29.6/.
    ReleaseLine {
        line: (1, 29),
        newest_patch: 6,
        default_hub: "docker.io/istio",
        gateway_schema_broken: None,
        end_of_life: false,
    },
    // istio/istio@1.30.3: from the 1.30 line the charts default to registry.istio.io/release;
    // ../shared/upstream/istio-charts/1.30.3/.
    ReleaseLine {
        line: (1, 30),
        newest_patch: 3,
        default_hub: "registry.istio.io/release",
        gateway_schema_broken: None,
        end_of_life: false,
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
        .map(|l| format!("{}.{}", l.line.0, l.line.1))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> IstioVersion {
        let p: Vec<u32> = s.split('.').map(|x| x.parse().unwrap()).collect();
        IstioVersion {
            major: p[0],
            minor: p[1],
            patch: p[2],
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
    fn the_lines_are_in_order_and_only_the_oldest_has_ended() {
        assert!(LINES.windows(2).all(|w| w[0].line < w[1].line));
        assert_eq!(
            LINES.iter().filter(|l| l.end_of_life).count(),
            1,
            "1.26 only"
        );
    }
}
