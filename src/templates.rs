//! The templates, embedded in the binary, and the environment that renders them: strict about
//! undefined values, with filters that quote user values safely for YAML and for shell. Every
//! text rendered from them is normalized the same way (LF, one trailing newline). Render, the
//! seal layer and the PKI's state files all render through here; none reads a template file.

use std::sync::OnceLock;

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, UndefinedBehavior, Value};

/// (name, source) of every template; names are paths under templates/.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "layers/kustomization.yaml",
        include_str!("../templates/layers/kustomization.yaml"),
    ),
    (
        "layers/istio-system-namespace.yaml",
        include_str!("../templates/layers/istio-system-namespace.yaml"),
    ),
    (
        "argocd/root.yaml",
        include_str!("../templates/argocd/root.yaml"),
    ),
    (
        "argocd/application.yaml",
        include_str!("../templates/argocd/application.yaml"),
    ),
    (
        "argocd/applicationset.yaml",
        include_str!("../templates/argocd/applicationset.yaml"),
    ),
    (
        "argocd/argocd-cm-patch.yaml",
        include_str!("../templates/argocd/argocd-cm-patch.yaml"),
    ),
    (
        "argocd/repo-server-patch.yaml",
        include_str!("../templates/argocd/repo-server-patch.yaml"),
    ),
    (
        "layers/ksops-generator.yaml",
        include_str!("../templates/layers/ksops-generator.yaml"),
    ),
    (
        "flux/sources.yaml",
        include_str!("../templates/flux/sources.yaml"),
    ),
    (
        "flux/sync.yaml",
        include_str!("../templates/flux/sync.yaml"),
    ),
    (
        "flux/helmrelease.yaml",
        include_str!("../templates/flux/helmrelease.yaml"),
    ),
    (
        "flux/gitrepository.yaml",
        include_str!("../templates/flux/gitrepository.yaml"),
    ),
    (
        "layers/push-secret.yaml",
        include_str!("../templates/layers/push-secret.yaml"),
    ),
    (
        "layers/external-remote-secret.yaml",
        include_str!("../templates/layers/external-remote-secret.yaml"),
    ),
    (
        "layers/reader-token.yaml",
        include_str!("../templates/layers/reader-token.yaml"),
    ),
    (
        "layers/cross-network-gateway.yaml",
        include_str!("../templates/layers/cross-network-gateway.yaml"),
    ),
    (
        "sample/namespace.yaml",
        include_str!("../templates/sample/namespace.yaml"),
    ),
    (
        "sample/reviews.yaml",
        include_str!("../templates/sample/reviews.yaml"),
    ),
    (
        "sample/reviews-deployment.yaml",
        include_str!("../templates/sample/reviews-deployment.yaml"),
    ),
    (
        "sample/sleep.yaml",
        include_str!("../templates/sample/sleep.yaml"),
    ),
    (
        "values/base.yaml",
        include_str!("../templates/values/base.yaml"),
    ),
    (
        "values/istiod.yaml",
        include_str!("../templates/values/istiod.yaml"),
    ),
    (
        "values/gateway.yaml",
        include_str!("../templates/values/gateway.yaml"),
    ),
    (
        "base/gateway-api-kustomization.yaml",
        include_str!("../templates/base/gateway-api-kustomization.yaml"),
    ),
    (
        "istioctl/controlplane.yaml",
        include_str!("../templates/istioctl/controlplane.yaml"),
    ),
    (
        "istioctl/gateway.yaml",
        include_str!("../templates/istioctl/gateway.yaml"),
    ),
    ("README.md", include_str!("../templates/README.md")),
    (
        "sample/verify-job.yaml",
        include_str!("../templates/sample/verify-job.yaml"),
    ),
    (
        "scripts/uninstall.sh",
        include_str!("../templates/scripts/uninstall.sh"),
    ),
    (
        "scripts/install.sh",
        include_str!("../templates/scripts/install.sh"),
    ),
    (
        "cluster-README.md",
        include_str!("../templates/cluster-README.md"),
    ),
    (
        "secrets/remote-secret.yaml",
        include_str!("../templates/secrets/remote-secret.yaml"),
    ),
    (
        "secrets/remote-kubeconfig.yaml",
        include_str!("../templates/secrets/remote-kubeconfig.yaml"),
    ),
    ("state/ca.yaml", include_str!("../templates/state/ca.yaml")),
    (
        "state/rotation.yaml",
        include_str!("../templates/state/rotation.yaml"),
    ),
    (
        "secrets/cacerts.yaml",
        include_str!("../templates/secrets/cacerts.yaml"),
    ),
    (
        "sops-config.yaml",
        include_str!("../templates/sops-config.yaml"),
    ),
    (
        "init/mesh-from-kubeconfig.yaml",
        include_str!("../templates/init/mesh-from-kubeconfig.yaml"),
    ),
    // Provider fixes live in overlays/: rendered only into the clusters that need them.
    (
        "overlays/cluster-owned-annotations",
        include_str!("../overlays/cluster-owned-annotations"),
    ),
    (
        "overlays/cilium-config.yaml",
        include_str!("../overlays/cilium-config.yaml"),
    ),
    (
        "overlays/cilium-restart.yaml",
        include_str!("../overlays/cilium-restart.yaml"),
    ),
    (
        "overlays/metallb-pool.yaml",
        include_str!("../overlays/metallb-pool.yaml"),
    ),
    (
        "overlays/metallb-kustomization.yaml",
        include_str!("../overlays/metallb-kustomization.yaml"),
    ),
    (
        "overlays/metrics-server-kustomization.yaml",
        include_str!("../overlays/metrics-server-kustomization.yaml"),
    ),
];

/// A template failed to render (a missing value, under strict undefined behaviour).
#[derive(Debug, thiserror::Error)]
#[error("template {template} failed to render: {source}")]
pub struct TemplateError {
    pub template: &'static str,
    #[source]
    pub source: minijinja::Error,
}

/// Renders template `name` with `ctx`, as it comes out of the template (not normalized).
pub fn render(name: &'static str, ctx: Value) -> Result<String, TemplateError> {
    env()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|source| TemplateError {
            template: name,
            source,
        })
}

/// Renders template `name` into text that holds a secret: normalized, and zeroized when dropped
/// (the plaintext of a sealed file, never written to disk).
pub fn render_secret(
    name: &'static str,
    ctx: Value,
) -> Result<zeroize::Zeroizing<String>, TemplateError> {
    let text = zeroize::Zeroizing::new(render(name, ctx)?);
    Ok(zeroize::Zeroizing::new(normalize(&text)))
}

/// The source text of template `name`: what an inputs digest hashes, so that a change to the
/// template re-seals what it renders.
pub fn source(name: &str) -> Option<&'static str> {
    TEMPLATES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, source)| *source)
}

/// LF line endings, no trailing whitespace on a line, exactly one newline at the end.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    for line in text.replace("\r\n", "\n").split('\n') {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let trimmed = out.trim_end_matches('\n').len();
    out.truncate(trimmed);
    out.push('\n');
    out
}

/// The shared environment, built once.
pub fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        match SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
        {
            Ok(syntax) => env.set_syntax(syntax),
            Err(err) => panic!("template syntax configuration is invalid: {err}"),
        }
        env.add_filter("yaml", yaml_scalar);
        env.add_filter("yaml_block", yaml_block);
        env.add_filter("shell", shell_word);
        for (name, source) in TEMPLATES {
            // A template that does not parse is a build defect; the test suite renders every one.
            if let Err(err) = env.add_template(name, source) {
                panic!("embedded template {name} does not parse: {err}");
            }
        }
        env
    })
}

/// A scalar as YAML (the `yaml` filter): booleans and numbers as they are, a string plain or
/// quoted by the one rule of `yaml::scalar`.
pub fn yaml_scalar(value: Value) -> String {
    if value.kind() == minijinja::value::ValueKind::Bool {
        return if value.is_true() { "true" } else { "false" }.to_owned();
    }
    match value.as_str() {
        Some(s) => crate::yaml::scalar(s),
        None => value.to_string(),
    }
}

/// A YAML document handed over as data (the `yaml_block` filter), written in block style at
/// `indent` spaces, without its final newline (the template's line ends it).
fn yaml_block(value: Value, indent: usize) -> Result<String, minijinja::Error> {
    let doc = value
        .downcast_object_ref::<crate::yaml::Yaml>()
        .ok_or_else(|| {
            minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                "yaml_block takes a YAML document built by the model",
            )
        })?;
    let text = doc.emit(indent);
    Ok(text.strip_suffix('\n').unwrap_or(&text).to_owned())
}

/// A word for a POSIX shell command line: bare when safe, single-quoted otherwise.
pub fn shell_word(value: Value) -> String {
    let s = value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned);
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:@=-+,".contains(c));
    if safe {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(s: &str) -> String {
        yaml_scalar(Value::from(s))
    }

    #[test]
    fn yaml_keeps_ordinary_names_plain() {
        assert_eq!(y("network1"), "network1");
        assert_eq!(
            y("docker.io/istio/examples-bookinfo-reviews-v1:1.20.3"),
            "docker.io/istio/examples-bookinfo-reviews-v1:1.20.3"
        );
    }

    #[test]
    fn shell_quotes_odd_contexts() {
        assert_eq!(shell_word(Value::from("kt-k2p")), "kt-k2p");
        assert_eq!(shell_word(Value::from("it's mine")), r"'it'\''s mine'");
    }

    #[test]
    fn normalize_gives_lf_and_one_trailing_newline() {
        assert_eq!(normalize("a: 1  \r\nb: 2\n\n\n"), "a: 1\nb: 2\n");
        assert_eq!(normalize("x"), "x\n");
    }

    #[test]
    fn a_template_source_is_the_embedded_file() {
        assert_eq!(
            source("secrets/cacerts.yaml"),
            Some(include_str!("../templates/secrets/cacerts.yaml"))
        );
        assert_eq!(source("no/such.yaml"), None);
    }

    #[test]
    fn every_template_parses() {
        for (name, _) in TEMPLATES {
            assert!(env().get_template(name).is_ok(), "{name}");
        }
    }
}
