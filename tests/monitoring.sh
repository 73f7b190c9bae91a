#!/usr/bin/env bash
# Monitoring, checked with Prometheus's own tool (promtool, from Debian's `prometheus`):
# - the alerting rules load (`check rules`) and each fires when it should (`test rules`);
# - the daemon's /metrics, scraped live against the stand-in, passes `check metrics`;
# - the Grafana dashboard is valid JSON whose every query parses and names only metrics
#   the daemon exports (as do the alerts);
# - the series the alerts read take, on the real daemon, the values their tests assume:
#   the key refused, the API down (due rows waiting), passes ending.
# Run by .ci/run; installs promtool if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v promtool >/dev/null 2>&1 || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
}
bin=$PWD/target/debug/memories-reaper
standin=$PWD/target/debug/examples/standin
[ -x "$bin" ] && [ -x "$standin" ] || cargo build --quiet --bins --examples

passed=0
failed=0
pass() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAILED: $*"; failed=$((failed + 1)); }

scratch=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT

if out=$(promtool check rules monitoring/alerts.yml 2>&1); then pass "alerts.yml loads"; else fail "promtool check rules: $out"; fi
if out=$(cd monitoring && promtool test rules alerts.test.yml 2>&1); then
  pass "every alert fires in its rule test"
else
  fail "promtool test rules: $out"
fi

api_port=$((20000 + RANDOM % 20000))
metrics_port=$((api_port + 1))
cat > "$scratch/config.toml" <<TOML
[api]
base_url = "http://127.0.0.1:$api_port"
timeout = "2s"
[retry]
max_attempts = 2
initial_backoff = "100ms"
max_backoff = "200ms"
[database]
path = "$scratch/queue.db"
[schedule]
cron = "* * * * * *"
[metrics]
listen = "127.0.0.1:$metrics_port"
[[rule]]
name = "scratch"
all_namespaces = true
tag = "scratch"
TOML
url=http://127.0.0.1:$metrics_port/metrics
start_standin() { "$standin" "$api_port" standin-key >> "$scratch/standin.log" 2>&1 & standin_pid=$!; pids+=("$standin_pid"); }
start_daemon() {
  MEMORIES_API_KEY=$1 "$bin" --config "$scratch/config.toml" run >> "$scratch/daemon.log" 2>&1 &
  daemon_pid=$!; pids+=("$daemon_pid")
  for _ in $(seq 50); do curl -sf "$url" > /dev/null 2>&1 && return; sleep 0.2; done
  fail "the metrics endpoint did not come up"; tail -5 "$scratch/daemon.log"
}
# Waits until a scrape has a line matching the pattern; prints the last scrape.
scrape_until() {
  for _ in $(seq 50); do
    curl -sf "$url" > "$scratch/scrape.txt" || true
    grep -Eq "$1" "$scratch/scrape.txt" && return 0
    sleep 0.2
  done
  return 1
}
ids() { for i in $(seq "$1" "$2"); do echo "VI$((606404158946574336 + i))"; done; }
# expect_scrape PATTERN WHAT SHOWN: passes WHAT once a scrape matches PATTERN; else fails,
# showing the scrape's lines that match SHOWN.
expect_scrape() {
  if scrape_until "$1"; then pass "$2"; else fail "$2: $(grep "$3" "$scratch/scrape.txt" || true)"; fi
}

start_standin
start_daemon standin-key
ids 1 5 | "$bin" --config "$scratch/config.toml" enqueue --file - > /dev/null
expect_scrape '^memories_reaper_rows\{status="deleted"\} 5$' "the scrape counts the deleted rows" rows
scrape_until '^memories_reaper_passes_total\{end="drained"\} [1-9]' || true
expect_scrape '^memories_reaper_rule_tripped\{rule="scratch"\} 0$' \
  "a configured lifecycle rule's trip-wire gauge is exported, at 0" rule_tripped
if out=$(promtool check metrics < "$scratch/scrape.txt" 2>&1); then
  pass "promtool check metrics is clean"
else
  fail "promtool check metrics: $out"
fi

# The names the daemon exports (a histogram's series too), then the dashboard and the
# alerts against them; every dashboard query must parse (as a recording rule).
if python3 - "$scratch/scrape.txt" monitoring/dashboard.json monitoring/alerts.yml "$scratch/queries.yml" <<'PY'
import json, re, sys
scrape, dashboard, alerts, queries = sys.argv[1:]
exported = set()
for line in open(scrape):
    m = re.match(r"# TYPE (\S+) (\S+)", line)
    if m:
        name, kind = m.groups()
        exported.add(name)
        if kind == "histogram":
            exported.update(name + s for s in ("_bucket", "_sum", "_count"))
exported.add("up")  # Prometheus's own, per target
problems = []
dash = json.load(open(dashboard))
exprs = [t["expr"] for p in dash.get("panels", []) for t in p.get("targets", [])]
if not exprs:
    problems.append("the dashboard has no queries")
rules = re.findall(r"expr:\s*(?:>-\s*)?(.+?)\n\s+(?:for|labels):", open(alerts).read(), re.S)
for where, expr in [("dashboard", e) for e in exprs] + [("alerts.yml", r) for r in rules]:
    for name in re.findall(r"\b(memories_reaper_\w+|up)\b(?!\s*\()", expr):
        if name not in exported:
            problems.append(f"{where} queries {name}, which the daemon does not export")
with open(queries, "w") as out:
    out.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, e in enumerate(exprs):
        out.write(f"      - record: dashboard_query_{i}\n        expr: {json.dumps(e)}\n")
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
PY
then
  pass "the dashboard and the alerts query only exported metrics"
else
  fail "the dashboard or the alerts query a metric the daemon does not export"
fi
if out=$(promtool check rules "$scratch/queries.yml" 2>&1); then
  pass "every dashboard query parses"
else
  fail "dashboard queries: $out"
fi

# The key refused: the gauge its alert reads goes to 1.
kill "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true
start_daemon wrong-key
ids 6 6 | "$bin" --config "$scratch/config.toml" enqueue --file - > /dev/null
expect_scrape '^memories_reaper_api_key_refused 1$' \
  "a refused key sets memories_reaper_api_key_refused to 1" key_refused
# The pass ends (and is counted) after the refused request sets the gauge: wait for it too.
expect_scrape '^memories_reaper_passes_total\{end="stopped"\} [1-9]' \
  "the stopped passes are counted" passes_total

# The API down: due rows wait, and the age the stall alert reads grows.
kill "$daemon_pid" "$standin_pid"; wait "$daemon_pid" "$standin_pid" 2>/dev/null || true
start_daemon standin-key
sleep 2.5
expect_scrape '^memories_reaper_oldest_due_age_seconds [1-9]' \
  "with the API down, the oldest due row's age grows" oldest

echo "monitoring: $passed passed, $failed failed"
[ "$failed" = 0 ]
