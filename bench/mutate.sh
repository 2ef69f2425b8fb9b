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
#   SHORT=1 bash bench/mutate.sh sync       # go test -short for the mutants (skips sync's heap test)
#   TIME_LIMIT="store=1500 health=900"      # fail (exit 3) a package whose run takes longer
#   SINCE=<commit> bash bench/mutate.sh store  # only the package's files changed since <commit>
#   BASELINE=bench/mutate-baseline bash bench/mutate.sh store health  # only files whose content
#                                           # differs from the checksums of the last full run
#   FILES="jsonobject.go errors.go" bash bench/mutate.sh httpapi  # only those files of the package
#                                           # (a bounded figure for a slow package)
#   bash bench/mutate.sh --record-baseline store health  # after a full run at >= 90 %: write
#                                           # bench/mutate-baseline (sha256sum of each non-test file)
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
# Each mutant's cost is mostly building, not testing (store: ~2.8 CPU-s to compile and link the
# test binary, ~0.35 CPU-s to run it), so the mutants are built without optimisation or
# inlining (-gcflags=-N -l, for the mutated package only: dependencies stay cached) and linked
# without DWARF (-ldflags=-w): about a third less CPU a mutant, same behaviour. The one test of
# store, health or sync that counts allocations (store's TestDecodeRecord_Allocations) is
# skipped (see GOFLAGS below); gremlins' own unmutated coverage run uses the same flags and
# stops the run (exit 2) if a test fails under them.
# SINCE=<commit> mutates only the package's non-test files that differ from <commit> (git diff);
# a package with none is reported as unchanged and not run. .ci/run uses it with the commit of
# the last full measurement (bench/mutate-baseline), so CI holds changed code to the threshold in
# minutes while a full run (about 10 min for store on two idle cores) is a developer's step.
# SHORT=1 adds -short: sync's heap-growth test (TestPoller_MemoryIndependentOfHistory, the
# slowest test of the package, 3.6-7 s of CPU) is skipped. A skipped test kills nothing, so the
# efficacy measured this way is a lower bound of the full suite's.
set -euo pipefail
cd "$(dirname "$0")/.."

WORKERS=${WORKERS:-1}
TIMEOUT_COEFFICIENT=${TIMEOUT_COEFFICIENT:-10}
THRESHOLD=${THRESHOLD:-0}
OUT=${OUT:-.mutate}
TIME_LIMIT=${TIME_LIMIT:-}
# -count=1: gremlins times its unmutated coverage run and gives each mutant 10x that; a cached
# result (go test caches -cover runs too) measures ~0.1 s, and then most mutants "time out" and
# drop out of the efficacy, which reads 100 % (seen: 2 killed, 10 timed out of 12).
# -skip: the allocation-count tests (testing.AllocsPerRun) measure the optimised build; without
# inlining (-N -l) they count escapes the real binary does not have and fail the unmutated run.
# Skipped, they kill nothing: a mutant that only adds allocations is then not caught here.
# -skip (SKIP=, a go test -skip pattern, added per package): the allocation-count test above,
# and httpapi's TestDashboard* (they drive Chromium through the page's JavaScript: 11 s of wall
# clock per mutant, and the Go they reach is the /v1/health answer other tests pin).
base_goflags="${GOFLAGS:+$GOFLAGS }-count=1 -vet=off -ldflags=-w '-gcflags=-N -l'"
[ "${SHORT:-0}" = 0 ] || base_goflags="$base_goflags -short"
skip_for() { # pkg
  local s=${SKIP:-^TestDecodeRecord_Allocations\$}
  [ "$1" = httpapi ] && [ -z "${SKIP:-}" ] && s="$s|^TestDashboard"
  echo "$s"
}
EQUIV=bench/mutate-equivalent.txt
if [ "${1:-}" = --record-baseline ]; then
  shift
  { echo "# The checksums (sha256sum) of the non-test files of $* at the last full mutation run"
    echo "# (README's figures; $(date -u +%Y-%m-%d)). .ci/run mutates only the files that differ (BASELINE=)."
    echo "# Rewrite with: bash bench/mutate.sh --record-baseline $*"
    for p in "$@"; do for f in "$p"/*.go; do case "$f" in *_test.go) ;; *) sha256sum "$f" ;; esac; done; done
  } > bench/mutate-baseline
  echo "mutate.sh: wrote bench/mutate-baseline for $*"
  exit 0
fi
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
  excl=()
  if [ -n "${BASELINE:-}" ] || [ -n "${SINCE:-}" ] || [ -n "${FILES:-}" ]; then
    if [ -n "${FILES:-}" ]; then
      # Only the named files of the package (a bounded measure of a slow package).
      changed=$(for f in $FILES; do [ -f "$pkg/$f" ] && echo "$pkg/$f"; done || true)
      [ -n "$changed" ] || { echo "mutate.sh: FILES=$FILES names no file of $pkg" >&2; exit 2; }
      what="FILES (named)"
    elif [ -n "${BASELINE:-}" ]; then
      # The files whose content differs from the baseline's checksum (or that it does not list):
      # no git history needed, so a shallow CI clone works.
      [ -r "$BASELINE" ] || { echo "mutate.sh: BASELINE=$BASELINE is not readable" >&2; exit 2; }
      changed=$(for f in "$pkg"/*.go; do
          case "$f" in *_test.go) continue ;; esac
          grep -qxF "$(sha256sum "$f")" "$BASELINE" || echo "$f"
        done)
      what="the baseline $BASELINE"
    else
      git cat-file -e "$SINCE^{commit}" 2>/dev/null || { echo "mutate.sh: SINCE=$SINCE is not a commit of this clone (a shallow clone? fetch more history)" >&2; exit 2; }
      changed=$( { git diff --name-only "$SINCE" -- "$pkg/*.go"; git ls-files --others --exclude-standard -- "$pkg/*.go"; } |
        grep -v '_test\.go$' | grep -E "^$pkg/[^/]+\.go\$" | sort -u || true)
      what=$(git rev-parse --short "$SINCE")
    fi
    if [ -z "$changed" ]; then
      printf '%-10s unchanged since %s: not run (README has its full figures)\n' "$pkg" "$what"
      continue
    fi
    for f in "$pkg"/*.go; do
      case "$f" in *_test.go) continue ;; esac
      grep -qxF "$f" <<<"$changed" || excl+=(--exclude-files "(^|/)$(basename "$f" .go)\\.go\$")
    done
    echo "mutate.sh: $pkg: mutating only $(echo $changed | tr '\n' ' ')(changed since $what)" >&2
  fi
  export GOFLAGS="$base_goflags -skip=$(skip_for "$pkg")"
  start=$(date +%s)
  # gremlins exits non-zero only for its own thresholds, which are not used here.
  rc=0
  # --exclude-files '^[^/]+/': the package's own files only (gremlins would also mutate
  # subpackages such as health/policy, whose mutants its run neither budgets for nor names).
  timeout -k 10 "$limit" go tool gremlins unleash --workers "$WORKERS" --exclude-files '^[^/]+/' \
    --timeout-coefficient "$TIMEOUT_COEFFICIENT" "${excl[@]}" "./$pkg" >"$log" 2>&1 || rc=$?
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
