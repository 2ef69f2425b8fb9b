#!/usr/bin/env bash
# Side-by-side load comparison on loopback: runtimesd against nginx proxy_cache (cache hits) in
# front of the same fake control plane, nginx serving the same bytes from a file with the same
# headers runtimesd sends (add_header: the like-for-like row), and an echo v4 server writing the
# same pre-encoded bytes (with and without those headers). POST /v1/validate and the drop-in
# validate are priced against the list. wrk drives each in turn, interleaved, at 2 and 1,000
# runtimes, identity and gzip; medians of ROUNDS rounds. Everything started here is stopped by
# PID at exit.
#
#   apt-get install nginx wrk        # Debian packages (nginx-light is enough); done here when
#                                    # run as root and they are missing
#   bash bench/compare.sh            # ROUNDS=3 DURATION=10s CONNS=64 THREADS=2 SIZES="2 1000"
#   BIN=/path/to/runtimesd bash bench/compare.sh   # measure another build (e.g. a base commit)
#
# The control plane's own stack (FastAPI + uvicorn) cannot run here (no Python packages);
# its ratios use the reference figures measured on a machine like this one: 2,455 req/s at 2
# runtimes and 8 req/s at 1,000.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
SIZES=${SIZES:-2 1000}
FASTAPI_2=2455
FASTAPI_1000=8

if { ! command -v nginx || ! command -v wrk; } >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing nginx-light and wrk..." >&2
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light wrk >&2
fi
for tool in nginx wrk go curl python3; do
  command -v "$tool" >/dev/null || { echo "compare.sh: $tool is not installed (apt-get install nginx wrk)" >&2; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

load_start=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
echo "building..." >&2
if [ -n "${BIN:-}" ]; then cp "$BIN" "$work/runtimesd"; else go build -o "$work/runtimesd" ./cmd/runtimesd; fi
go build -o "$work/fakecp" ./bench/fakecp
go build -o "$work/echobytes" ./bench/echobytes

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null \
  || echo $((20000 + RANDOM % 20000)); }

waitfor() { # URL [header]
  for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null ${2:+-H "$2"} "$1" 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "compare.sh: $1 never answered" >&2; exit 1
}

# run_wrk URL [Accept-Encoding] [wrk script] -> "req/s p50_ms p99_ms"
run_wrk() {
  local out args=()
  [ -n "${2:-}" ] && args+=(-H "Accept-Encoding: $2")
  [ -n "${3:-}" ] && args+=(-s "$3")
  out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "${args[@]}" "$1")
  local rps p50 p99
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  echo "$rps $(to_ms "$p50") $(to_ms "$p99")"
}

to_ms() { # 812.00us | 4.40ms | 1.02s -> ms
  awk -v v="$1" 'BEGIN { n=v+0; if (v ~ /us$/) n/=1000; else if (v ~ /ms$/) n=n; else if (v ~ /s$/) n*=1000; printf "%.2f", n }'
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A RESULT

for size in $SIZES; do
  echo "== $size runtimes" >&2
  cp_port=$(freeport)
  "$work/fakecp" -addr "127.0.0.1:$cp_port" -runtimes "$size" -key bench >/dev/null &
  pids+=($!)
  waitfor "http://127.0.0.1:$cp_port/api/v1/runtimes" "Authorization: Bearer bench"

  rt_port=$(freeport)
  KUBIYA_API_KEY=bench KUBIYA_CONTROL_PLANE_BASE_URL="http://127.0.0.1:$cp_port" \
    "$work/runtimesd" serve --data "$work/data-$size" --listen "127.0.0.1:$rt_port" 2>"$work/runtimesd-$size.log" &
  pids+=($!)
  for _ in $(seq 1 300); do
    curl -fsS -D - -o /dev/null "http://127.0.0.1:$rt_port/api/v1/runtimes" 2>/dev/null | grep -qi 'x-runtimes-source: upstream' && break
    sleep 0.05
  done

  echo_port=$(freeport)
  "$work/echobytes" -addr "127.0.0.1:$echo_port" -from "http://127.0.0.1:$cp_port/api/v1/runtimes" -key bench &
  pids+=($!)
  waitfor "http://127.0.0.1:$echo_port/api/v1/runtimes"
  # The same baseline sending the eight cache headers runtimesd sends: what the headers cost.
  echoh_port=$(freeport)
  "$work/echobytes" -addr "127.0.0.1:$echoh_port" -from "http://127.0.0.1:$cp_port/api/v1/runtimes" -key bench -same-headers &
  pids+=($!)
  waitfor "http://127.0.0.1:$echoh_port/api/v1/runtimes"

  # The like-for-like nginx: runtimesd's own answer (body and cache headers, as a client
  # without Accept-Encoding gets them) served from a file with add_header.
  mkdir -p "$work/static-$size"
  curl -fsS -D "$work/static-$size/headers" -o "$work/static-$size/runtimes.json" "http://127.0.0.1:$rt_port/api/v1/runtimes"
  add_headers=$(tr -d '\r' <"$work/static-$size/headers" | awk -F': ' 'tolower($1) ~ /^(cache-control|age|last-modified|x-cache|x-runtimes-revision|x-runtimes-source|etag|vary)$/ {
      v = $2; gsub(/"/, "\\\"", v); printf "      add_header %s \"%s\";\n", $1, v }')
  first_id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])' <"$work/static-$size/runtimes.json")
  printf '%s\n' 'wrk.method = "POST"' 'wrk.headers["Content-Type"] = "application/json"' \
    "wrk.body = '{\"runtime_type\":\"$first_id\",\"model_id\":\"gpt-4o\",\"agent_config\":{\"timeout\":30}}'" >"$work/validate-$size.lua"

  ng_port=$(freeport)
  ngs_port=$(freeport)
  mkdir -p "$work/nginx-$size/cache" "$work/nginx-$size/logs" "$work/nginx-$size/tmp"
  user_line=""
  [ "$(id -u)" = 0 ] && user_line="user root;"
  cat >"$work/nginx-$size/nginx.conf" <<EOF
$user_line
worker_processes 2;
error_log $work/nginx-$size/logs/error.log warn;
pid $work/nginx-$size/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx-$size/tmp/body;
  proxy_temp_path $work/nginx-$size/tmp/proxy;
  fastcgi_temp_path $work/nginx-$size/tmp/fastcgi;
  uwsgi_temp_path $work/nginx-$size/tmp/uwsgi;
  scgi_temp_path $work/nginx-$size/tmp/scgi;
  proxy_cache_path $work/nginx-$size/cache keys_zone=rt:10m max_size=100m;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$ng_port;
    location / {
      proxy_pass http://127.0.0.1:$cp_port;
      proxy_set_header Authorization "Bearer bench";
      proxy_cache rt;
      proxy_cache_valid 200 1h;
      proxy_ignore_headers Cache-Control Expires Set-Cookie;
      gzip on;
      gzip_types application/json;
      gzip_min_length 1024;
      gzip_proxied any;
    }
  }
  server {
    listen 127.0.0.1:$ngs_port;
    etag off;
    location = /api/v1/runtimes {
      default_type application/json;
      alias $work/static-$size/runtimes.json;
$add_headers
    }
  }
}
EOF
  nginx -p "$work/nginx-$size" -c "$work/nginx-$size/nginx.conf" -g 'daemon off;' &
  pids+=($!)
  waitfor "http://127.0.0.1:$ng_port/api/v1/runtimes"
  waitfor "http://127.0.0.1:$ngs_port/api/v1/runtimes"

  targets=(
    "nginx|http://127.0.0.1:$ng_port/api/v1/runtimes"
    "nginx-same-headers|http://127.0.0.1:$ngs_port/api/v1/runtimes"
    "echo|http://127.0.0.1:$echo_port/api/v1/runtimes"
    "echo-same-headers|http://127.0.0.1:$echoh_port/api/v1/runtimes"
    "runtimesd|http://127.0.0.1:$rt_port/api/v1/runtimes"
    "runtimesd-native|http://127.0.0.1:$rt_port/v1/runtimes"
    "validate|http://127.0.0.1:$rt_port/v1/validate|$work/validate-$size.lua"
    "dropin-validate|http://127.0.0.1:$rt_port/api/v1/runtimes/validate|$work/validate-$size.lua"
  )
  encodings=("")
  [ "$size" = 1000 ] && encodings=("" "gzip")
  for enc in "${encodings[@]}"; do
    for round in $(seq 1 "$ROUNDS"); do
      for t in "${targets[@]}"; do
        IFS='|' read -r name url script <<<"$t"
        case "$name" in echo* | nginx-same-headers | *validate) [ -n "$enc" ] && continue ;; esac # no gzip variant
        read -r rps p50 p99 < <(run_wrk "$url" "$enc" "$script")
        key="$size|${enc:-identity}|$name"
        RESULT[$key|rps]+="$rps "
        RESULT[$key|p50]+="$p50 "
        RESULT[$key|p99]+="$p99 "
        echo "  round $round ${enc:-identity} $name: $rps req/s p99 ${p99}ms" >&2
      done
    done
  done
done

med() { tr ' ' '\n' <<<"${RESULT[$1]}" | grep -v '^$' | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a/b; else print "-" }'; }

printf '\n| runtimes | encoding | server | req/s | p50 ms | p99 ms |\n| --- | --- | --- | --- | --- | --- |\n'
for key in $(printf '%s\n' "${!RESULT[@]}" | sed 's/|[a-z0-9]*$//' | sort -u -t'|' -k1,1n -k2,2 -k3,3); do
  IFS='|' read -r size enc name <<<"$key"
  printf '| %s | %s | %s | %.0f | %s | %s |\n' "$size" "$enc" "$name" "$(med "$key|rps")" "$(med "$key|p50")" "$(med "$key|p99")"
done

printf '\n| ratio | value | target |\n| --- | --- | --- |\n'
for size in $SIZES; do
  for srv in runtimesd runtimesd-native; do
    rt=$(med "$size|identity|$srv|rps"); ng=$(med "$size|identity|nginx|rps"); ec=$(med "$size|identity|echo|rps")
    fa=$FASTAPI_2; [ "$size" = 1000 ] && fa=$FASTAPI_1000
    printf '| %s %s / echo bytes | %s | ≥ 0.95 |\n' "$srv" "$size" "$(ratio "$rt" "$ec")"
    printf '| %s %s / echo bytes with the same headers | %s | (what the headers leave) |\n' "$srv" "$size" "$(ratio "$rt" "$(med "$size|identity|echo-same-headers|rps")")"
    target="≥ 0.9"; [ "$size" = 1000 ] && target="≥ 1.0"
    printf '| %s %s / nginx | %s | %s |\n' "$srv" "$size" "$(ratio "$rt" "$ng")" "$target"
    printf '| %s %s p99 / nginx p99 | %s | ≤ 1.5 |\n' "$srv" "$size" "$(ratio "$(med "$size|identity|$srv|p99")" "$(med "$size|identity|nginx|p99")")"
    target="≥ 40"; [ "$size" = 1000 ] && target="≥ 500"
    printf '| %s %s / FastAPI (reference) | %s | %s |\n' "$srv" "$size" "$(ratio "$rt" "$fa")" "$target"
  done
done
for srv in runtimesd runtimesd-native; do
  [ -n "${RESULT[1000|gzip|$srv|rps]:-}" ] || continue
  printf '| %s 1000 gzip / nginx gzip | %s | ≥ 3 |\n' "$srv" "$(ratio "$(med "1000|gzip|$srv|rps")" "$(med "1000|gzip|nginx|rps")")"
done

# The ratios issue 15 names, each within one run.
printf '\n| ratio (issue 15) | value | target |\n| --- | --- | --- |\n'
for size in $SIZES; do
  rt=$(med "$size|identity|runtimesd|rps")
  printf '| %s: drop-in list / echo bytes only | %s | ≥ 0.9 at 2 |\n' "$size" "$(ratio "$rt" "$(med "$size|identity|echo|rps")")"
  printf '| %s: drop-in list / echo same headers | %s | |\n' "$size" "$(ratio "$rt" "$(med "$size|identity|echo-same-headers|rps")")"
  printf '| %s: drop-in list / nginx same headers | %s | |\n' "$size" "$(ratio "$rt" "$(med "$size|identity|nginx-same-headers|rps")")"
  printf '| %s: POST /v1/validate / drop-in list | %s | ≥ 0.9 |\n' "$size" "$(ratio "$(med "$size|identity|validate|rps")" "$rt")"
  printf '| %s: drop-in validate / drop-in list | %s | ≥ 0.95 |\n' "$size" "$(ratio "$(med "$size|identity|dropin-validate|rps")" "$rt")"
done
# Other work on the machine moves every figure: say how busy it was, at both ends.
printf '\nload average at the start: %s; at the end: %s\n' "$load_start" "$(cut -d' ' -f1-3 /proc/loadavg)"
