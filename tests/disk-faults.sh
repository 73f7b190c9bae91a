#!/usr/bin/env bash
# Disk and database faults the daemon must report clearly and survive without losing a row:
# a database on a file system that turns read-only, and a full disk (before the daemon
# starts, and while it runs). A small tmpfs stands in for the disk: needs root (mount),
# sqlite3, and the debug binaries. A database locked by another process for longer than
# the busy timeout is tested in `cargo test` (tests/it/pipeline.rs). Run by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/target/debug/memories-reaper
standin=$PWD/target/debug/examples/standin
[ -x "$bin" ] && [ -x "$standin" ] || cargo build --quiet --bins --examples

scratch=$(mktemp -d)
mnt=$scratch/disk
mkdir "$mnt"
if ! mount -t tmpfs -o size=2m tmpfs "$mnt" 2>"$scratch/mount.err"; then
  echo "disk-faults: not testable on this machine: cannot mount a tmpfs ($(cat "$scratch/mount.err"))"
  exit 0
fi
port=$((20000 + RANDOM % 20000))
"$standin" "$port" standin-key > "$scratch/standin.log" 2>&1 &
pids=($!)
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  umount "$mnt" 2>/dev/null || true
  if [ "${KEEP:-}" ]; then echo "kept $scratch"; else rm -rf "$scratch"; fi
}
trap cleanup EXIT
cat > "$scratch/config.toml" <<TOML
[api]
base_url = "http://127.0.0.1:$port"
timeout = "2s"
[database]
path = "$mnt/queue.db"
busy_timeout = "500ms"
[schedule]
cron = "* * * * * *"
[retry]
initial_backoff = "10ms"
max_backoff = "50ms"
TOML
export MEMORIES_API_KEY=standin-key
reaper() { "$bin" --config "$scratch/config.toml" "$@"; }
passed=0
failed=0
pass() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAILED: $*"; failed=$((failed + 1)); }
count() { sqlite3 "$mnt/queue.db" "SELECT count(*) FROM deletion_queue WHERE status = '$1'"; }
# Expects a failing command whose stderr says $1, in one line, without a panic.
expect_error() {
  local want=$1 what=$2; shift 2
  local out rc=0
  out=$("$@" 2>&1 >/dev/null) || rc=$?
  if [ "$rc" = 0 ]; then fail "$what: exit 0"; return; fi
  if grep -q panicked <<< "$out"; then fail "$what: panicked: $out"; return; fi
  if ! grep -q "$want" <<< "$out"; then fail "$what: no \"$want\" in: $out"; return; fi
  pass "$what: exit $rc, $(grep -m1 "$want" <<< "$out" | sed 's/^.*memories-reaper: //' | cut -c1-110)"
}
ids() { seq -f "VI%018.0f" "$1" "$2"; }

reaper migrate > /dev/null
ids 100000 100049 | reaper enqueue --file - > /dev/null

# 1. The file system turns read-only.
mount -o remount,ro "$mnt"
expect_error "read-only file system" "read-only: run --once" reaper run --once
expect_error "read-only file system" "read-only: enqueue" reaper enqueue VI606404158946574336
mount -o remount,rw "$mnt"
reaper run --once 2> /dev/null
[ "$(count deleted)" = 50 ] && pass "read-only: all 50 rows deleted once writable again" \
  || fail "read-only: $(count deleted) of 50 rows deleted afterwards"

# 2. The disk is full before the daemon starts.
ids 200000 200049 | reaper enqueue --file - > /dev/null
dd if=/dev/zero of="$mnt/filler" bs=4k 2>/dev/null || true
expect_error "disk" "disk full: run --once" reaper run --once
expect_error "disk" "disk full: enqueue" reaper enqueue VI606404158946574336
rm "$mnt/filler"
reaper run --once 2> /dev/null
[ "$(count deleted)" = 100 ] && [ "$(count pending)" = 0 ] \
  && pass "disk full: all 100 rows deleted once space is freed, none added by the failed enqueue" \
  || fail "disk full: deleted $(count deleted), pending $(count pending)"

# 3. The disk fills while the daemon runs: rows due in two seconds meet a full disk.
sqlite3 "$mnt/queue.db" "WITH RECURSIVE n(i) AS (SELECT 300000 UNION ALL SELECT i + 1 FROM n WHERE i < 300199)
  INSERT INTO deletion_queue (video_no, due_at)
  SELECT printf('VI%018d', i), strftime('%Y-%m-%d %H:%M:%f', 'now', '+2 seconds') FROM n;"
"$bin" --config "$scratch/config.toml" run 2> "$scratch/daemon.log" &
daemon=$!
pids+=("$daemon")
sleep 0.5
dd if=/dev/zero of="$mnt/filler" bs=4k 2>/dev/null || true
sleep 4
kill -0 "$daemon" 2>/dev/null && pass "disk full while running: the daemon is still up" \
  || fail "disk full while running: the daemon exited: $(tail -3 "$scratch/daemon.log")"
rm "$mnt/filler"
for _ in $(seq 60); do [ "$(count deleted)" = 300 ] && break; sleep 0.5; done
[ "$(count deleted)" = 300 ] && pass "disk full while running: all 300 rows deleted once space is freed" \
  || fail "disk full while running: $(count deleted) of 300 deleted; $(tail -3 "$scratch/daemon.log")"
if grep -q "disk is full\|disk I/O error" "$scratch/daemon.log"; then
  pass "disk full while running: logged: $(grep -m1 -o 'database.*disk[^;]*;[^"]*' "$scratch/daemon.log" | cut -c1-120)"
else
  echo "note: the daemon met no full disk (SQLite reused WAL space)"
fi
grep -q panicked "$scratch/daemon.log" && fail "the daemon panicked" || true
kill -TERM "$daemon"; wait "$daemon" || fail "the daemon did not exit 0 on SIGTERM"

echo "disk-faults: $passed passed, $failed failed"
[ "$failed" = 0 ]
