#!/usr/bin/env bash
# Load test: `warden serve` on loopback under wrk, authenticated invoke requests against the
# scripted support agent. Prints wrk's report (requests/s and latency percentiles).
#
#   bench/loadtest.sh [DURATION_SECS] [CONNECTIONS] [DURABILITY]
#
# Needs a release build (cargo build --release -p warden-cli) and wrk (apt-get install wrk).
# The server gets one core's worth of workers by default so wrk keeps the other; set
# WARDEN_WORKERS to change it. The load stays on 127.0.0.1 and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-20}"
connections="${2:-64}"
durability="${3:-fsync}"
workers="${WARDEN_WORKERS:-2}"
bin="${CARGO_TARGET_DIR:-target}/release/warden"
[ -x "$bin" ] || { echo "build first: cargo build --release -p warden-cli" >&2; exit 2; }
command -v wrk >/dev/null || { echo "install wrk: apt-get install -y wrk" >&2; exit 2; }

dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
"$bin" init "$dir/p" >/dev/null
cfg="$dir/p/warden.toml"
# Ephemeral ports, a rate limit the load cannot hit, the chosen audit durability.
sed -i -e 's/"127.0.0.1:8080"/"127.0.0.1:0"/' -e 's/"127.0.0.1:8081"/"127.0.0.1:0"/' \
  -e 's/^requests_per_minute = 600/requests_per_minute = 100000000/' -e 's/^burst = 50/burst = 1000000/' \
  -e 's/^tokens_per_minute = 200000/tokens_per_minute = 100000000000/' \
  -e "s/^durability = \"fsync\"/durability = \"$durability\"/" \
  -e "s/^data_dir = \"warden-data\"/data_dir = \"warden-data\"\nworker_threads = $workers/" "$cfg"
[ -n "${WARDEN_NO_GUARD:-}" ] && sed -i "s/^guardrail = \"support\"//" "$cfg"
token=$("$bin" token --config "$cfg" --tenant loadtest --ttl 1h)
"$bin" serve --config "$cfg" 2> "$dir/serve.log" &
pid=$!
for _ in $(seq 1 100); do
  grep -q "listening on" "$dir/serve.log" && break
  sleep 0.05
done
addr=$(sed -n 's/^warden: data plane listening on \(http:\/\/[^ ]*\) ;.*/\1/p' "$dir/serve.log")
[ -n "$addr" ] || { cat "$dir/serve.log"; exit 1; }
cat > "$dir/invoke.lua" <<LUA
wrk.method = "POST"
wrk.body   = '{"inputText":"Hello, what can you help me with?"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
done = function(summary, latency, requests)
  io.write(string.format("non-2xx/socket errors: %d/%d\n", summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  for _, p in pairs({50, 90, 99, 99.9}) do
    io.write(string.format("p%-5s %.3f ms\n", p, latency:percentile(p) / 1000))
  end
end
LUA
echo "warden at $addr, workers=$workers, audit durability=$durability, $connections connections, ${duration}s"
wrk -t1 -c"$connections" -d"${duration}s" --latency -s "$dir/invoke.lua" "$addr/v1/agents/support/sessions/load-1/invoke"
"$bin" audit verify "$dir/p/warden-data/audit" --config "$cfg" | sed 's/hash .*//'
