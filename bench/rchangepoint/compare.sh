#!/usr/bin/env bash
# compare.sh — debugai's PELT against R changepoint's cpt.mean on identical
# series; a manual benchmark (needs R and changepoint; see README.md).
#
# Usage: bench/rchangepoint/compare.sh [SIZE...]     SIZE: 100k 1M 10M (default all three)
#
# Environment:
#   RUNS       timed samples per side and size (default 5); medians are reported
#   WORK       where series, R's dumps, binaries and raw outputs go
#              (default /tmp/debugai-rchangepoint; never the repository)
#   SKIP_R     sizes for which R is not run, e.g. "10M" (default none)
#
# For each size: writes the series with gen (once; reproducible), runs
# pelt.R (R: scale() untimed, cpt.mean timed), gotime (Go: Standardize
# untimed, changepoint.PELT timed, and a bitwise check that it parsed the
# same doubles as R), and `debugai changepoints --method pelt` RUNS times
# for its wall time (reading, parsing, z-scoring, PELT, printing). It fails
# unless gotime's and the CLI's change points are identical to R's.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
RUNS=${RUNS:-5}
WORK=${WORK:-/tmp/debugai-rchangepoint}
SKIP_R=${SKIP_R:-}
sizes=("$@")
[[ ${#sizes[@]} -gt 0 ]] || sizes=(100k 1M 10M)

if ! command -v Rscript >/dev/null 2>&1 || ! Rscript -e 'suppressPackageStartupMessages(library(changepoint))' >/dev/null 2>&1; then
  echo "compare.sh: needs Rscript with the changepoint package (see bench/rchangepoint/README.md)" >&2
  exit 1
fi

points() {
  case $1 in
    100k) echo 100000 ;; 1M) echo 1000000 ;; 10M) echo 10000000 ;;
    *) echo "compare.sh: unknown size $1 (want 100k, 1M or 10M)" >&2; return 1 ;;
  esac
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

mkdir -p "$WORK"
echo "== building gen, gotime and debugai into $WORK" >&2
(cd "$root" && go build -o "$WORK/gen" ./bench/rchangepoint/gen \
  && go build -o "$WORK/gotime" ./bench/rchangepoint/gotime \
  && go build -o "$WORK/debugai" ./cmd/debugai)

echo "R $(Rscript -e 'cat(R.version$major, R.version$minor, sep=".")'), changepoint $(Rscript -e 'cat(format(packageVersion("changepoint")))'), $(go version | cut -d' ' -f3)"
echo "load before: $(uptime | sed 's/.*load average: //')"

rows=()
status=0
for size in "${sizes[@]}"; do
  n=$(points "$size")
  series="$WORK/pelt-$size.txt"
  if [[ ! -s "$series" ]]; then
    echo "== $size: writing $series" >&2
    "$WORK/gen" -n "$n" -o "$series"
  fi

  r_med="-" r_cps="" check=()
  if [[ " $SKIP_R " != *" $size "* ]]; then
    echo "== $size: R cpt.mean, $RUNS samples" >&2
    PELT_R_DUMP="$WORK/r-$size.f64" Rscript "$here/pelt.R" "$series" "$RUNS" >"$WORK/r-$size.out"
    r_cps=$(sed -n 's/^cps //p' "$WORK/r-$size.out")
    r_med=$(sed -n 's/^median_s //p' "$WORK/r-$size.out" | tr -d ' ')
    echo "   R runs_s: $(sed -n 's/^runs_s //p' "$WORK/r-$size.out")" >&2
    check=(-check "$WORK/r-$size.f64")
  fi

  echo "== $size: Go changepoint.PELT, $RUNS samples" >&2
  "$WORK/gotime" -runs "$RUNS" "${check[@]}" "$series" >"$WORK/go-$size.out"
  go_cps=$(sed -n 's/^cps //p' "$WORK/go-$size.out")
  go_med=$(sed -n 's/^median_s //p' "$WORK/go-$size.out")
  echo "   Go runs_s: $(sed -n 's/^runs_s //p' "$WORK/go-$size.out")" >&2

  echo "== $size: debugai changepoints --method pelt, $RUNS runs" >&2
  walls=()
  for ((i = 0; i < RUNS; i++)); do
    t0=$(date +%s%N)
    "$WORK/debugai" changepoints --method pelt "$series" >"$WORK/cli-$size.out"
    t1=$(date +%s%N)
    walls+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.6f", (b-a)/1e9}')")
  done
  echo "   CLI wall s: ${walls[*]}" >&2
  cli_med=$(echo "${walls[*]}" | median)
  cli_cps=$(cat "$WORK/cli-$size.out")

  ncp=$(echo "$go_cps" | tr -cd ',' | wc -c)
  [[ "$go_cps" == "[]" ]] || ncp=$((ncp + 1))
  if [[ -z "$r_cps" ]]; then
    same="no R run"
    ratio="-"
    [[ "$go_cps" == "$cli_cps" ]] || { same="gotime and CLI differ"; status=1; }
  else
    ratio=$(awk -v g="$go_med" -v r="$r_med" 'BEGIN {printf "%.2f", g/r}')
    if [[ "$go_cps" == "$r_cps" && "$cli_cps" == "$r_cps" ]]; then
      same="yes ($ncp change points)"
    else
      same="NO"
      status=1
    fi
  fi
  rows+=("| $size | $r_med | $go_med | $ratio | $cli_med | $same |")
done

echo "load after: $(uptime | sed 's/.*load average: //')"
echo
echo "| size | R cpt.mean median s | Go PELT median s | ratio Go/R | Go CLI wall median s | identical |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
exit $status
