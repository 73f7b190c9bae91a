#!/usr/bin/env bash
# Under a real systemd: a Debian root (tests/lib/debian-root.sh) booted with systemd-nspawn,
# the Debian package installed in it as the README says, the service driven with systemctl
# against the project's stand-in on this machine's 127.0.0.1 (the container shares the
# host's network). It checks what an operator relies on: start is active only after READY,
# STATUS= follows the queue, producers in the group write and outsiders cannot, deletions
# on the cron rule, the README's journalctl lines, reload, a changed key, kill -9, the
# watchdog, a clean stop mid-request, the sandbox, and the exposure score.
# Needs root; installs systemd-container if missing. Leaves nothing running.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/lib/debian-root.sh
. tests/lib/postgres.sh
# A server of our own: .ci/run's (exported to us) is neither reused nor stopped here.
unset PG_DIR PG_PORT
command -v systemd-nspawn >/dev/null 2>&1 || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd-container >/dev/null
}
# Built (or found up to date): a binary left from another commit would be tested instead.
cargo build --release --locked --quiet
cargo build --quiet --examples
standin=$PWD/target/debug/examples/standin

passed=0
failed=0
pass() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAILED: $*"; failed=$((failed + 1)); }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }

scratch=$(mktemp -d)
root=$scratch/root
nspawn_pid=
standin_pid=
host_daemon=
cleanup() {
  [ -n "$standin_pid" ] && kill "$standin_pid" 2>/dev/null || true
  [ -n "$host_daemon" ] && kill -9 "$host_daemon" 2>/dev/null || true
  pg_stop
  if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
    c systemctl poweroff 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$nspawn_pid" 2>/dev/null || true
  fi
  wait 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT

deb=$(BIN=$PWD/target/release/memories-reaper packaging/build-deb.sh "$scratch/out")
debian_root "$root"
cp "$deb" "$root/var/tmp/package.deb"

port=$((20000 + RANDOM % 20000))
start_standin() {
  [ -n "$standin_pid" ] && { kill "$standin_pid" 2>/dev/null || true; wait "$standin_pid" 2>/dev/null || true; }
  "$standin" "$port" standin-key --log "$scratch/requests.jsonl" "$@" >> "$scratch/standin.log" 2>&1 &
  standin_pid=$!
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return; sleep 0.1; done
}
start_standin --reject VI606404158946574999

systemd-nspawn --register=no --keep-unit -q -D "$root" -b > "$scratch/console.log" 2>&1 &
nspawn_pid=$!
pid1=
for _ in $(seq 100); do
  pid1=$(pgrep -P "$nspawn_pid" | head -1 || true)
  [ -n "$pid1" ] && break
  sleep 0.2
done
# A command inside the container, as root there.
c() { nsenter -t "$pid1" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
# Bounded: a boot that never finishes (a start job waiting for ever) is this test's
# failure, said with the jobs it waits for, never CI's time limit spent in silence.
booted=
for _ in $(seq 120); do
  booted=$(timeout 5 nsenter -t "$pid1" -a systemctl is-system-running --wait 2>/dev/null || true)
  [ "$booted" = running ] || [ "$booted" = degraded ] && break
  sleep 1
done
if [ "$booted" != running ] && [ "$booted" != degraded ]; then
  fail "the container booted systemd (state '${booted:-none}' after two minutes); its jobs:"
  timeout 10 nsenter -t "$pid1" -a systemctl list-jobs --no-pager || true
  tail -20 "$scratch/console.log"
  exit 1
fi
check "the container booted systemd" c test -d /run/systemd/system

# Installed as the README says, configured as an operator would.
c dpkg -i /var/tmp/package.deb > "$scratch/dpkg.log" 2>&1 || { cat "$scratch/dpkg.log"; exit 1; }
c sed -i -e "s|^base_url = .*|base_url = \"http://127.0.0.1:$port\"|" \
  -e 's|^cron = .*|cron = "*/2 * * * * *"|' /etc/memories-reaper/config.toml
printf 'standin-key\n' | c install -m 0600 /dev/stdin /etc/memories-reaper/api_key
checked=$(c env CREDENTIALS_DIRECTORY=/etc/memories-reaper memories-reaper --config /etc/memories-reaper/config.toml check 2>&1 || true)
check "check, as the README says, finds the key the service will get" \
  grep -q 'api key: found in /etc/memories-reaper/api_key' <<< "$checked"
check "the package neither enabled nor started it" \
  test "$(c systemctl is-enabled memories-reaper 2>/dev/null || true)" = disabled

# Type=notify: systemd waits for READY=1, which comes once the database is open and the
# schedule armed. A daemon that cannot get there (its database path is a folder) fails the
# start itself and is never active; a simple service would have been "started".
c sed -i 's|^path = .*|path = "/var/lib"|' /etc/memories-reaper/config.toml
check "a start that cannot reach READY fails" bash -c "! nsenter -t $pid1 -a systemctl start memories-reaper 2>/dev/null"
check "and the unit was never active" \
  test "$(c systemctl show -p ActiveEnterTimestampMonotonic --value memories-reaper)" = 0
c systemctl stop memories-reaper 2>/dev/null || true
c systemctl reset-failed memories-reaper 2>/dev/null || true
c sed -i 's|^path = .*|path = "/var/lib/memories-reaper/queue.db"|' /etc/memories-reaper/config.toml

c systemctl enable --now memories-reaper > /dev/null 2>&1 || true
check "systemctl enable --now: active once READY" test "$(c systemctl is-active memories-reaper)" = active
status_before=$(c systemctl show -p StatusText --value memories-reaper)

# Producers: one in the group writes the queue, one outside cannot.
c useradd -m alice && c usermod -aG memories-reaper alice && c useradd -m bob
ids() { for i in $(seq "$1" "$2"); do echo "VI$((606404158946574336 + i))"; done; }
as() { local user=$1; shift; c setpriv --reuid "$user" --regid "$user" --init-groups env HOME=/home/$user "$@"; }
ids 1 300 > "$root/var/tmp/ids.txt"
echo VI606404158946574999 >> "$root/var/tmp/ids.txt"
check "a producer in the group enqueues" \
  as alice sh -c 'umask 0007; memories-reaper --config /etc/memories-reaper/config.toml enqueue --file /var/tmp/ids.txt > /dev/null'
check "a user outside the group is refused" \
  bash -c "! nsenter -t $pid1 -a setpriv --reuid bob --regid bob --init-groups memories-reaper --config /etc/memories-reaper/config.toml enqueue VI606404158946575001 > /dev/null 2>&1"

# As the service's user: root is refused a queue whose folder another user owns.
deleted() { as memories-reaper memories-reaper --config /etc/memories-reaper/config.toml status --json 2>/dev/null \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(c["rows"] for c in d["counts"] if str(c["status"])=="deleted"))' 2>/dev/null || echo 0; }
for _ in $(seq 150); do [ "$(deleted)" -ge 300 ] && break; sleep 0.2; done
check "300 ids deleted on the cron rule" test "$(deleted)" -ge 300
for _ in $(seq 100); do
  c journalctl -u memories-reaper ROW_STATUS=failed -o cat 2>/dev/null | grep -q VI606404158946574999 && break; sleep 0.2
done
status_after=$(c systemctl show -p StatusText --value memories-reaper)
check "STATUS= follows the queue ('$status_before' then '$status_after')" \
  test "$status_before" != "$status_after" -a -n "$status_after"

# The README's monitoring lines, as written.
out=$(c journalctl -u memories-reaper --since yesterday | grep 'pass ' || true)
check "journalctl … | grep 'pass ' shows passes with their totals" grep -Eq 'pass finished: .*[0-9]+ deleted' <<< "$out"
out=$(c journalctl -u memories-reaper BATCH_OUTCOME=deleted -o cat || true)
check "journalctl BATCH_OUTCOME=deleted finds the batches, each line readable" \
  grep -Eq '^batch [0-9]+: [0-9]+ ids? in namespace default, attempt [0-9]+, deleted \(code 0000\)' <<< "$out"
out=$(c journalctl -u memories-reaper -p warning --since today || true)
check "journalctl -p warning shows what needs a look (the refused id)" grep -q 'VI606404158946574999' <<< "$out"
out=$(c journalctl -u memories-reaper ROW_STATUS=failed -o verbose || true)
check "journalctl ROW_STATUS=failed -o verbose names the video and why" \
  bash -c 'grep -q "VIDEO_NO=VI606404158946574999" <<< "$0" && grep -q "MESSAGE=.*refused by the API" <<< "$0"' "$out"
out=$(c systemctl status memories-reaper --no-pager 2>&1 || true)
check "systemctl status shows the queue's depth and the last pass" grep -q 'Status: "[0-9]* due rows pending; last pass' <<< "$out"

# Reload: a changed config applies without a restart.
main_pid=$(c systemctl show -p MainPID --value memories-reaper)
c sed -i 's|^cron = .*|cron = "*/3 * * * * *"|' /etc/memories-reaper/config.toml
check "systemctl reload succeeds" c systemctl reload memories-reaper
sleep 1
check "systemctl reload keeps the process" test "$(c systemctl show -p MainPID --value memories-reaper)" = "$main_pid"
check "and arms the new schedule" bash -c "nsenter -t $pid1 -a journalctl -u memories-reaper -o cat | grep -q 'schedule armed afresh'"

# A changed key: read at start from the credential, so a restart picks it up.
printf 'a-wrong-key\n' | c install -m 0600 /dev/stdin /etc/memories-reaper/api_key
c systemctl restart memories-reaper
ids 301 305 | as alice sh -c 'memories-reaper --config /etc/memories-reaper/config.toml enqueue --file - > /dev/null'
for _ in $(seq 60); do c journalctl -u memories-reaper -p err | grep -qi key && break; sleep 0.2; done
check "a changed key is used after a restart (journalctl -p err | grep -i key finds the refusal)" \
  bash -c "nsenter -t $pid1 -a journalctl -u memories-reaper -p err | grep -qi 'check the key'"
printf 'standin-key\n' | c install -m 0600 /dev/stdin /etc/memories-reaper/api_key
c systemctl restart memories-reaper
for _ in $(seq 60); do [ "$(deleted)" -ge 305 ] && break; sleep 0.2; done
check "the right key again: the held rows are deleted" test "$(deleted)" -ge 305

# kill -9: systemd restarts it (RestartSec=10).
main_pid=$(c systemctl show -p MainPID --value memories-reaper)
c systemctl kill -s KILL memories-reaper
for _ in $(seq 100); do
  now=$(c systemctl show -p MainPID --value memories-reaper)
  [ "$now" != 0 ] && [ "$now" != "$main_pid" ] && [ "$(c systemctl is-active memories-reaper)" = active ] && break
  sleep 0.2
done
check "kill -9 is followed by a restart" test "$(c systemctl show -p MainPID --value memories-reaper)" != "$main_pid"

# A clean stop in the middle of a request: the API answers after 3 s, and the stop comes
# once the request is recorded as sent (`sending`), before its answer.
sending() { as memories-reaper memories-reaper --config /etc/memories-reaper/config.toml status --json 2>/dev/null \
  | python3 -c 'import json,sys; print(sum(1 for b in json.load(sys.stdin)["last_batches"] if str(b["outcome"])=="sending"))' 2>/dev/null || echo 0; }
c sed -i 's|^before = .*|before = false|' /etc/memories-reaper/config.toml
check "systemctl reload succeeds" c systemctl reload memories-reaper
start_standin --latency 3s
ids 306 310 | as alice sh -c 'memories-reaper --config /etc/memories-reaper/config.toml enqueue --file - > /dev/null'
for _ in $(seq 100); do [ "$(sending)" -gt 0 ] && break; sleep 0.1; done
check "a request is in flight" test "$(sending)" -gt 0
started=$(date +%s.%N)
c systemctl stop memories-reaper
took=$(python3 -c "print(round($(date +%s.%N) - $started, 1))")
result=$(c systemctl show -p Result --value memories-reaper)
code=$(c systemctl show -p ExecMainStatus --value memories-reaper)
check "stop mid-request exits 0 (Result=$result, status $code) in ${took}s (TimeoutStopSec=90)" \
  test "$result" = success -a "$code" = 0
check "the request in flight was finished and recorded first" test "$(sending)" = 0
c sed -i 's|^before = .*|before = true|' /etc/memories-reaper/config.toml
start_standin
c systemctl start memories-reaper

# The watchdog: a pass that makes no progress (every request hangs) is restarted.
c mkdir -p /etc/systemd/system/memories-reaper.service.d
printf '[Service]\nWatchdogSec=4\n' | c tee /etc/systemd/system/memories-reaper.service.d/watchdog.conf > /dev/null
c systemctl daemon-reload
c systemctl restart memories-reaper
restarts=$(c systemctl show -p NRestarts --value memories-reaper)
start_standin --latency 60s
ids 311 315 | as alice sh -c 'memories-reaper --config /etc/memories-reaper/config.toml enqueue --file - > /dev/null'
for _ in $(seq 150); do
  [ "$(c systemctl show -p NRestarts --value memories-reaper)" -gt "$restarts" ] && break; sleep 0.2
done
check "a pass without progress is restarted by the watchdog" \
  bash -c "nsenter -t $pid1 -a journalctl -u memories-reaper | grep -q 'Watchdog timeout'"
c rm /etc/systemd/system/memories-reaper.service.d/watchdog.conf
c systemctl daemon-reload
start_standin
c systemctl restart memories-reaper

# The sandbox, seen from inside the service's own namespaces.
main_pid=$(c systemctl show -p MainPID --value memories-reaper)
inside() { c nsenter -t "$main_pid" -m "$@"; }
check "it cannot write outside its state directory" bash -c "! nsenter -t $pid1 -a nsenter -t $main_pid -m touch /etc/memories-reaper/x 2>/dev/null"
check "it can write its state directory" inside test -w /var/lib/memories-reaper
check "/home is empty to it (alice's home exists)" bash -c "[ -d $root/home/alice ] && [ -z \"\$(nsenter -t $pid1 -a nsenter -t $main_pid -m ls -A /home 2>/dev/null)\" ]"
check "its /proc hides other processes" bash -c "nsenter -t $pid1 -a nsenter -t $main_pid -m grep -q ' /proc proc .*hidepid=invisible' /proc/self/mounts"
# As its user in its mount namespace: the container's init (root's) is invisible to it.
check "as its user it cannot see init (pid 1), which root there sees" bash -c "
  nsenter -t $pid1 -a test -d /proc/1 &&
  ! nsenter -t $pid1 -a nsenter -t $main_pid -m setpriv --reuid memories-reaper \
      --regid memories-reaper --clear-groups test -d /proc/1"
exposure=$(c systemd-analyze security memories-reaper --no-pager 2>/dev/null | tail -1)
check "systemd-analyze security on the running unit: $exposure" \
  python3 -c "import re,sys; m=re.search(r'level for \S+: (\d+\.\d+)', sys.argv[1]); sys.exit(0 if m and float(m.group(1)) <= 2.0 else 1)" "$exposure"
check "the key is nowhere in the journal" bash -c "! nsenter -t $pid1 -a journalctl -o verbose | grep -q standin-key"

# PostgreSQL, as the book's "More than one host", "In production" says, its blocks run
# as written (placeholders filled, `sudo` a root shell's no-op): a server on this machine,
# which the container reaches as another host; the service there sends, and a second
# daemon on this machine stands by, then takes over when the service stops.
readme() { python3 tests/lib/readme_block.py --in docs/src/postgresql.md "### In production" "$@"; }
daemon_pw=daemon-pw-$RANDOM$RANDOM
producer_pw=producer-pw-$RANDOM$RANDOM
pg_start
readme sql "'…'" "'$daemon_pw'" "'…'" "'$producer_pw'" > "$scratch/step1.sql"
admin_db=${MEMORIES_REAPER_TEST_POSTGRES%/postgres}/memories
# One statement at a time (CREATE DATABASE cannot run in a transaction).
sed -n '/^CREATE/p' "$scratch/step1.sql" | psql -q -v ON_ERROR_STOP=1 "$MEMORIES_REAPER_TEST_POSTGRES" -f - \
  > "$scratch/psql.log" 2>&1 || { cat "$scratch/psql.log"; exit 1; }
check "step 1's REVOKE, in database memories" \
  psql -q -v ON_ERROR_STOP=1 "$admin_db" -c "$(sed -n '/^REVOKE/p' "$scratch/step1.sql")"
install -m 644 "$PG_DIR/ca.crt" "$root/etc/memories-reaper/postgres-ca.crt"
server=127.0.0.1:$PG_PORT
url="postgres://memories_reaper:$daemon_pw@$server/memories?sslmode=verify-full"
readme sh "postgres://memories_reaper:…@db.example:5432/memories?sslmode=verify-full" \
  "$url&sslrootcert=/etc/memories-reaper/postgres-ca.crt" > "$scratch/step2.sh"
c bash -c "set -e; sudo() { \"\$@\"; }; $(cat "$scratch/step2.sh")" > "$scratch/step2.log" 2>&1
check "step 2 as written: the service runs on PostgreSQL" \
  test "$(c systemctl is-active memories-reaper)" = active
for _ in $(seq 100); do
  c journalctl -u memories-reaper -o cat | grep -q "starting on database postgres://memories_reaper@$server/memories" && break
  sleep 0.2
done
check "its log names the server without the password" \
  bash -c "nsenter -t $pid1 -a journalctl -u memories-reaper -o cat | grep -q 'starting on database postgres://memories_reaper@$server/memories'"
# Step 1's grant, once the first daemon's start made the tables.
check "step 1's grant, after the first start" \
  psql -q -v ON_ERROR_STOP=1 "$admin_db" -c "$(sed -n '/^GRANT/p' "$scratch/step1.sql")"
producer="postgres://memories_producer:$producer_pw@$server/memories?sslmode=verify-full&sslrootcert=$PG_DIR/ca.crt"
check "the producer inserts" psql -q -v ON_ERROR_STOP=1 "$producer" \
  -c "INSERT INTO deletion_queue (video_no) VALUES ('VI606404158946577001'), ('VI606404158946577002')"
check "and can read nothing" bash -c "! psql -q '$producer' -c 'SELECT 1 FROM deletion_queue' 2>/dev/null"
# A second host: this machine, the binary the package holds, the same account.
printf '[api]\nbase_url = "http://127.0.0.1:%s"\n[schedule]\ncron = "*/2 * * * * *"\n' "$port" > "$scratch/host.toml"
MEMORIES_API_KEY=standin-key \
  MEMORIES_REAPER_DATABASE_URL="$url&sslrootcert=$PG_DIR/ca.crt" \
  target/release/memories-reaper --config "$scratch/host.toml" run 2> "$scratch/host.log" &
host_daemon=$!
pg_deleted() { psql -qtA "$admin_db" -c "SELECT count(*) FROM deletion_queue WHERE status = 'deleted'" 2>/dev/null || echo 0; }
for _ in $(seq 150); do [ "$(pg_deleted)" -ge 2 ] && break; sleep 0.2; done
check "the producer's rows are deleted" test "$(pg_deleted)" -ge 2
for _ in $(seq 100); do grep -q "standing by" "$scratch/host.log" && break; sleep 0.2; done
check "step 3: the service says it sends" \
  bash -c "nsenter -t $pid1 -a journalctl -u memories-reaper -o cat | grep -q 'this daemon now sends'"
check "and the other host stands by" grep -q "standing by" "$scratch/host.log"
out=$(c env CREDENTIALS_DIRECTORY=/etc/memories-reaper memories-reaper --config /etc/memories-reaper/config.toml status 2>&1 || true)
check "status on the service's host names the sender" grep -q "^sender: .*pid $(c systemctl show -p MainPID --value memories-reaper) " <<< "$out"
c systemctl stop memories-reaper
for _ in $(seq 150); do grep -q "now sends" "$scratch/host.log" && break; sleep 0.2; done
check "the service stopped: the other host sends" grep -q "now sends" "$scratch/host.log"
psql -q "$producer" -c "INSERT INTO deletion_queue (video_no) VALUES ('VI606404158946577003')"
for _ in $(seq 150); do [ "$(pg_deleted)" -ge 3 ] && break; sleep 0.2; done
check "and deletes what is due" test "$(pg_deleted)" -ge 3
check "no password in the journal or the log" bash -c "
  ! nsenter -t $pid1 -a journalctl -o verbose | grep -q -e '$daemon_pw' -e '$producer_pw' &&
  ! grep -q -e '$daemon_pw' -e '$producer_pw' '$scratch/host.log'"

echo "booted-systemd: $passed passed, $failed failed"
[ "$failed" = 0 ]
