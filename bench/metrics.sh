#!/usr/bin/env bash
# The metrics endpoint at scale and under slow clients (BENCHMARKS.md, "Metrics"):
#  1. a queue of 100,000 namespaces (2 rows each, due in a year) with
#     `metrics.by_namespace = true`: the scrape's size and time, and the daemon's peak RSS,
#     then again after 99,000 namespaces left the queue;
#  2. 16 clients trickling a header line every 300 ms (reconnecting when closed) beside 20
#     scrapes: how many scrapes were answered, and their slowest time.
# Prints figures; asserts nothing.   bench/metrics.sh [BINARY]   (default target/release)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/memories-reaper}
[ -x "$bin" ] || { echo "no $bin: cargo build --release first" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "needs sqlite3" >&2; exit 1; }
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
cleanup() { kill "${daemon:-}" 2>/dev/null || true; kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cat > "$work/config.toml" <<TOML
[api]
base_url = "http://127.0.0.1:9"
[database]
path = "$work/queue.db"
[schedule]
cron = "0 0 1 1 *"
[metrics]
listen = "127.0.0.1:$port"
by_namespace = true
TOML
"$bin" --config "$work/config.toml" migrate > /dev/null
sqlite3 "$work/queue.db" "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 99999)
  INSERT INTO deletion_queue (video_no, unique_id, due_at)
  SELECT 'VI' || (i * 2 + k), printf('tenant-%06d', i), strftime('%Y-%m-%d %H:%M:%f', 'now', '+1 year')
    FROM n, (SELECT 0 AS k UNION ALL SELECT 1)"
"$bin" --config "$work/config.toml" run 2> "$work/daemon.log" &
daemon=$!
for _ in $(seq 100); do grep -q "waiting for the next tick" "$work/daemon.log" && break; sleep 0.1; done
url="http://127.0.0.1:$port/metrics"
scrape() {
  local best=0 size=0
  for _ in 1 2 3 4 5; do
    local t; t=$(curl -s -o "$work/scrape.txt" -w '%{time_total}' "$url")
    size=$(stat -c %s "$work/scrape.txt")
    sleep 1.1   # past the reading's 1 s freshness: each scrape reads the queue
    best=$(python3 -c "print(max($best, $t))")
  done
  echo "$size $best $(grep -c '^memories_reaper_namespace_rows{' "$work/scrape.txt")"
}
read -r size slowest lines < <(scrape)
rss=$(awk '/VmHWM/ {print $2}' /proc/$daemon/status)
echo "figure: 100,000 namespaces: scrape $size bytes ($lines namespace lines), slowest of 5 ${slowest}s; peak RSS $((rss / 1024)) MiB"
sqlite3 "$work/queue.db" "DELETE FROM deletion_queue WHERE unique_id >= 'tenant-001000'"
read -r size slowest lines < <(scrape)
rss=$(awk '/VmHWM/ {print $2}' /proc/$daemon/status)
echo "figure: after 99,000 namespaces left: scrape $size bytes ($lines namespace lines); peak RSS $((rss / 1024)) MiB"

# 2. Slow clients.
trickle() {
  while :; do
    exec 3<>/dev/tcp/127.0.0.1/$port || continue
    printf 'GET /metrics HTTP/1.1\r\n' >&3 2>/dev/null || { exec 3>&-; continue; }
    while printf 'X-Slow: 1\r\n' >&3 2>/dev/null; do sleep 0.3; done
    exec 3>&- 2>/dev/null || true
  done
}
for _ in $(seq 16); do trickle 2>/dev/null & done
sleep 1
answered=0 slowest=0
for _ in $(seq 20); do
  if t=$(curl -s -m 5 -o /dev/null -w '%{http_code} %{time_total}' "$url"); then
    [ "${t%% *}" = 200 ] && answered=$((answered + 1))
    slowest=$(python3 -c "print(max($slowest, ${t##* }))")
  fi
  sleep 0.1
done
echo "figure: beside 16 slow clients: $answered of 20 scrapes answered, slowest ${slowest}s"
