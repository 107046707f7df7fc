#!/usr/bin/env bash
# build.sh — build debugai's OpenTelemetry Collector, idempotently.
#
# Usage: deploy/collector/build.sh        (prints the binary's absolute path on stdout)
#
# The binary is built with the Collector builder (ocb) from builder.yaml next
# to this script, into a cache directory outside the repository:
#   ${DEBUGAI_OTELCOL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/debugai/otelcol-deploy}
# Lines of builder.yaml marked "build.sh: optional" are dropped unless
# DEBUGAI_OTELCOL_ALL=1 (see builder.yaml for why). A stamp holding the sha256
# of the configuration actually built (+ builder version) makes a second run a
# no-op; edit builder.yaml and the next run rebuilds. Concurrent runs are
# serialised with flock. Modules come from whatever GOPROXY the environment
# sets. Progress goes to stderr; only the path goes to stdout.
set -euo pipefail

BUILDER_VERSION=v0.161.0
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache="${DEBUGAI_OTELCOL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/debugai/otelcol-deploy}"
bin="$cache/dist/otelcol-debugai"
stamp="$cache/stamp"

mkdir -p "$cache"
exec 9>"$cache/lock"
flock 9

config="$cache/builder.yaml"
if [[ "${DEBUGAI_OTELCOL_ALL:-0}" == 1 ]]; then
  cp "$here/builder.yaml" "$config.new"
else
  grep -v 'build.sh: optional' "$here/builder.yaml" >"$config.new"
fi
mv "$config.new" "$config"

want="$(sha256sum "$config" | cut -d' ' -f1) builder@$BUILDER_VERSION"
if [[ -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "$bin"
  exit 0
fi

gobin="$cache/bin"
builder="$gobin/builder"
if [[ ! -x "$builder" ]] || ! "$builder" version 2>/dev/null | grep -q "${BUILDER_VERSION#v}"; then
  echo "installing the Collector builder $BUILDER_VERSION into $gobin" >&2
  GOBIN="$gobin" GOFLAGS= go install "go.opentelemetry.io/collector/cmd/builder@$BUILDER_VERSION" >&2
fi

echo "building the Collector into $cache/dist (takes minutes on 2 cores)" >&2
rm -f "$stamp"
# output_path in builder.yaml is relative: run from the cache directory so the
# generated sources and the binary land there, never in the repository.
(cd "$cache" && GOFLAGS= "$builder" --config "$config") >&2

if [[ ! -x "$bin" ]]; then
  echo "build.sh: builder finished but $bin is missing" >&2
  exit 1
fi
echo "$want" >"$stamp"
echo "$bin"
