#!/usr/bin/env bash
# Producers' access, as the unit sets it up: the daemon runs as its own user with
# UMask=0007 in a setgid, group-writable state directory (StateDirectoryMode=2770).
# A second OS user in the group can insert while the daemon holds the database; a user
# outside it cannot. Needs root (to make the users) and sqlite3; run by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/target/debug/memories-reaper
standin=$PWD/target/debug/examples/standin
[ -x "$bin" ] && [ -x "$standin" ] || cargo build --quiet --bins --examples

group=mr-test-group
users="mr-test-daemon mr-test-producer mr-test-outsider"
# The users and the group are this test's own: removed at the end, whatever happened.
remove_users() {
  for u in $users; do userdel "$u" 2>/dev/null || true; done
  # useradd's own group of each (one user's primary group was changed, so userdel kept it).
  for g in $users "$group"; do groupdel "$g" 2>/dev/null || true; done
}
trap remove_users EXIT
for u in $users; do
  id "$u" >/dev/null 2>&1 || useradd --no-create-home --shell /usr/sbin/nologin "$u"
done
getent group "$group" >/dev/null || groupadd "$group"
usermod -g "$group" mr-test-daemon 2>/dev/null || true
usermod -aG "$group" mr-test-producer

scratch=$(mktemp -d)
chmod 0755 "$scratch"
state=$scratch/state
install -d -o mr-test-daemon -g "$group" -m 2770 "$state"
port=$((20000 + RANDOM % 20000))
cat > "$scratch/config.toml" <<TOML
[api]
base_url = "http://127.0.0.1:$port"
timeout = "2s"
[database]
path = "$state/queue.db"
[schedule]
cron = "* * * * * *"
TOML
chmod 0644 "$scratch/config.toml"

"$standin" "$port" standin-key > "$scratch/standin.log" 2>&1 &
standin_pid=$!
runuser -u mr-test-daemon -- env MEMORIES_API_KEY=standin-key \
  sh -c "umask 0007; exec $bin --config $scratch/config.toml run" 2> "$scratch/daemon.log" &
daemon_pid=$!
cleanup() { kill "$daemon_pid" "$standin_pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$scratch"; remove_users; }
trap cleanup EXIT

for _ in $(seq 50); do [ -e "$state/queue.db" ] && grep -q "waiting for the next tick" "$scratch/daemon.log" && break; sleep 0.2; done
fail() { echo "group-access: FAILED: $*"; cat "$scratch/daemon.log"; echo "0 passed, 1 failed"; exit 1; }
ls -l "$state"

insert() { runuser -u "$1" -- sqlite3 -cmd '.timeout 5000' "$state/queue.db" "INSERT INTO deletion_queue (video_no) VALUES ('$2');"; }
insert mr-test-producer VI606404158946574336 || fail "a producer in the group could not insert"
if insert mr-test-outsider VI606404158946574337 2>/dev/null; then fail "a user outside the group could insert"; fi

for _ in $(seq 50); do
  status=$(sqlite3 "$state/queue.db" "SELECT status FROM deletion_queue WHERE video_no = 'VI606404158946574336'")
  [ "$status" = deleted ] && break; sleep 0.2
done
[ "$status" = deleted ] || fail "the producer's row was not deleted (status: $status)"
[ "$(sqlite3 "$state/queue.db" 'SELECT count(*) FROM deletion_queue')" = 1 ] || fail "the outsider's row is in the queue"
for f in "$state"/queue.db*; do
  perms=$(stat -c '%A %G' "$f")
  case "$perms" in -rw-rw----\ $group) ;; *) fail "$f is $perms, not group-writable by $group" ;; esac
done
echo "group-access: the producer in $group inserted while the daemon ran; the outsider could not"
echo "2 passed, 0 failed"
