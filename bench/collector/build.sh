#!/usr/bin/env bash
# build.sh — build the benchmark's OpenTelemetry Collector peer, idempotently.
#
# Usage: bench/collector/build.sh        (prints the binary's absolute path on stdout)
#
# The binary is built with the Collector builder (ocb) from builder.yaml next
# to this script, into a cache directory outside the repository:
#   ${DEBUGAI_OTELCOL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/debugai/otelcol}
# A stamp holding the sha256 of builder.yaml (+ builder version) makes a second
# run a no-op; edit builder.yaml and the next run rebuilds. Concurrent runs are
# serialised with flock. Modules come from whatever GOPROXY the environment
# sets. Progress goes to stderr; only the path goes to stdout.
set -euo pipefail

BUILDER_VERSION=v0.161.0
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
config="$here/builder.yaml"
cache="${DEBUGAI_OTELCOL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/debugai/otelcol}"
bin="$cache/dist/otelcol-debugai-bench"
stamp="$cache/stamp"

mkdir -p "$cache"
exec 9>"$cache/lock"
flock 9

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
