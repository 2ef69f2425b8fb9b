#!/usr/bin/env bash
# Mutation testing with gremlins (pinned by the tool directive in go.mod), one package at a
# time: each mutant (a flipped comparison, a boundary moved by one, an arithmetic operator
# swapped...) is planted alone and the package's own tests run against it. A mutant the tests
# do not notice LIVED: a bug of that shape would ship.
#
#   bash bench/mutate.sh                    # store health sync httpapi, report only
#   bash bench/mutate.sh store health       # some packages
#   THRESHOLD=90 bash bench/mutate.sh store # exit 1 when a package's efficacy is below 90 %
#   WORKERS=1 TIMEOUT_COEFFICIENT=10        # defaults: 1 worker, 10x the tests' normal time
#   TIME_LIMIT="store=1500 health=900"      # fail (exit 3) a package whose run takes longer
#
# Efficacy = killed / (killed + lived), after leaving out the equivalent mutants named in
# bench/mutate-equivalent.txt (a mutant that changes no behaviour cannot be killed; each line
# names the mutant and why). Timed-out mutants count as killed only when gremlins says so;
# they are listed so a slow machine's false kills can be checked. Logs go to $OUT
# (default .mutate/), one <pkg>.log each.
#
# Do not add gremlins' --test-cpu: v0.6.0 passes it to go test as the single argument
# "-cpu N", go test fails its setup with exit status 1, and gremlins counts every mutant as
# KILLED (100 % efficacy whatever the tests do).
#
# go vet is turned off for the mutants' test runs (GOFLAGS=-vet=off): a mutant that only vet
# objects to is not caught by a test, and vet is a fifth of each run's CPU time.
set -euo pipefail
cd "$(dirname "$0")/.."

WORKERS=${WORKERS:-1}
TIMEOUT_COEFFICIENT=${TIMEOUT_COEFFICIENT:-10}
THRESHOLD=${THRESHOLD:-0}
OUT=${OUT:-.mutate}
TIME_LIMIT=${TIME_LIMIT:-}
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-vet=off"
EQUIV=bench/mutate-equivalent.txt
pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(store health sync httpapi)
mkdir -p "$OUT"

fail=0
printf '%-10s %7s %6s %9s %10s %9s %9s\n' package killed lived excluded timed-out efficacy seconds
for pkg in "${pkgs[@]}"; do
  [ -d "$pkg" ] || { echo "mutate.sh: no package directory $pkg" >&2; exit 2; }
  log="$OUT/$pkg.log"
  limit=0
  for l in $TIME_LIMIT; do [ "${l%%=*}" = "$pkg" ] && limit=${l#*=}; done
  start=$(date +%s)
  # gremlins exits non-zero only for its own thresholds, which are not used here.
  rc=0
  # --exclude-files: the package's own files only (gremlins would also mutate subpackages such
  # as health/policy, whose mutants its run neither budgets for nor names).
  timeout -k 10 "$limit" go tool gremlins unleash --workers "$WORKERS" --exclude-files '^[^/]+/' \
    --timeout-coefficient "$TIMEOUT_COEFFICIENT" "./$pkg" >"$log" 2>&1 || rc=$?
  secs=$(( $(date +%s) - start ))
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    done_n=$(grep -cE '^ *(KILLED|LIVED|TIMED OUT) ' "$log" || true)
    echo "mutate.sh: $pkg took longer than its limit of ${limit}s (TIME_LIMIT); $done_n mutants were tested by then (log: $log)" >&2
    exit 3
  elif [ "$rc" != 0 ]; then
    echo "mutate.sh: gremlins failed on $pkg:" >&2; tail -20 "$log" >&2; exit 2
  fi
  # Lines look like "       LIVED CONDITIONALS_BOUNDARY at db.go:61:19".
  read -r killed lived excluded timedout < <(awk -v pkg="$pkg" -v equiv="$EQUIV" '
    BEGIN {
      while ((getline line < equiv) > 0) {
        sub(/#.*/, "", line); n = split(line, f, " ")
        if (n >= 2) skip[f[1] " " f[2]] = 1      # "store/db.go:61:19 CONDITIONALS_BOUNDARY"
      }
    }
    /^ *KILLED /    { k++ }
    /^ *TIMED OUT / { t++ }
    /^ *LIVED / {
      loc = $4; typ = $2
      if ((pkg "/" loc " " typ) in skip) { x++ } else { l++; print "LIVED " pkg "/" loc " " typ > "/dev/stderr" }
    }
    END { printf "%d %d %d %d\n", k, l, x, t }' "$log" 2>"$OUT/$pkg.lived")
  if [ $((killed + lived)) -eq 0 ]; then eff=100; else eff=$(awk -v k="$killed" -v l="$lived" 'BEGIN { printf "%.1f", 100 * k / (k + l) }'); fi
  printf '%-10s %7d %6d %9d %10d %8s%% %9d\n' "$pkg" "$killed" "$lived" "$excluded" "$timedout" "$eff" "$secs"
  if [ -s "$OUT/$pkg.lived" ]; then sed 's/^/    /' "$OUT/$pkg.lived"; fi
  if awk -v e="$eff" -v t="$THRESHOLD" 'BEGIN { exit !(e < t) }'; then
    echo "mutate.sh: $pkg efficacy $eff% is below the threshold $THRESHOLD%" >&2
    fail=1
  fi
done
exit $fail
