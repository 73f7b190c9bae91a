#!/usr/bin/env bash
# Every fenced block of the README and of the book (docs/src) either runs here, as written
# (the commands of a block that says "one terminal" run in the background, the next
# waiting for what a reader would wait for), or is named below with the test that runs
# its commands and a line of that test to find it by. A block that is in neither fails:
# a page cannot grow a command no test runs. Run by .ci/run after `cargo build --bins
# --examples`; needs sqlite3, and PostgreSQL's server binaries for the PostgreSQL try-it.
# `tests/docs.sh WORD` runs only the blocks whose page or heading holds WORD.
set -euo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
pass() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAILED: $*"; failed=$((failed + 1)); }

scratch=$(mktemp -d)
groups=()
cleanup() {
  for g in "${groups[@]}"; do kill -- "-$g" 2>/dev/null || true; done
  rm -f config/standin-queue.db config/standin-queue.db-wal config/standin-queue.db-shm \
    config/rules-try.toml
  rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

bin=$PWD/target/debug/memories-reaper
[ -x "$bin" ] || cargo build --locked --bins --examples --quiet
# Blocks for an installed daemon call `memories-reaper`: this build's, on the PATH.
mkdir -p "$scratch/bin"
ln -s "$bin" "$scratch/bin/memories-reaper"
export PATH=$scratch/bin:$PATH
# A block's commands, continued lines joined, comment-only lines dropped.
commands() { python3 tests/lib/readme_block.py --in "$@" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta' | grep -v '^\s*#' | grep -v '^\s*$'; }
# One command in the background, in a process group of its own (stopped at the end).
background() {
  setsid bash -c "$1" > "$2" 2>&1 &
  groups+=("$!")
}
stop_background() {
  for g in "${groups[@]}"; do kill -- "-$g" 2>/dev/null || true; done
  for g in "${groups[@]}"; do while kill -0 "$g" 2>/dev/null; do sleep 0.1; done; done
  groups=()
}
# Waits up to 90 s for a command to succeed.
wait_for() {
  for _ in $(seq 450); do "$@" > /dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}
listening() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }

# README: the stand-in walkthrough, its four commands as four terminals would run them.
readme_walkthrough() {
  mapfile -t lines < <(commands README.md "# memories-reaper" sh 2)
  [ ${#lines[@]} = 4 ] || { fail "the walkthrough has ${#lines[@]} commands, not 4"; return; }
  background "${lines[0]}" "$scratch/standin.log"
  wait_for listening 8787 || { fail "the stand-in does not listen: $(cat "$scratch/standin.log")"; stop_background; return; }
  # `cargo run` of the binary builds without the dev-dependencies' features, so not what
  # .ci/run built (--bins --examples): built here first, untimed, so that the wait below
  # times the daemon's start and not a compile (CI once spent its 90 s compiling).
  cargo build --locked --quiet || { fail "cargo build"; stop_background; return; }
  background "${lines[1]}" "$scratch/daemon.log"
  # Migrated, not only created: status opens only a current queue, as enqueue does.
  wait_for "$bin" --config config/standin.toml status \
    || { fail "no queue: $(tail -3 "$scratch/daemon.log")"; stop_background; return; }
  local out
  out=$(bash -c "${lines[2]}" 2>&1) || { fail "enqueue: $out"; stop_background; return; }
  # The daemon wakes every ten seconds.
  if wait_for bash -c "${lines[3]} 2>/dev/null | grep -Eq '^  default +deleted +2$'"; then
    pass "README's walkthrough: the stand-in, the daemon, enqueue, and status shows 2 deleted"
  else
    fail "README's walkthrough: $(bash -c "${lines[3]}" 2>&1); daemon: $(tail -5 "$scratch/daemon.log")"
  fi
  stop_background
  rm -f config/standin-queue.db config/standin-queue.db-wal config/standin-queue.db-shm
}

# The producers' SQL (README and book), on a database the daemon migrated.
producers_sql() {
  local file=$1 heading=$2 db=$scratch/producers-$RANDOM.db
  printf '[database]\npath = "%s"\n' "$db" > "$scratch/producers.toml"
  "$bin" --config "$scratch/producers.toml" migrate > /dev/null
  local out
  if out=$(python3 tests/lib/readme_block.py --in "$file" "$heading" sql | sqlite3 "$db" 2>&1) \
    && [ "$(sqlite3 "$db" "SELECT count(*) FROM deletion_queue WHERE status = 'pending'")" = 3 ] \
    && [ "$(sqlite3 "$db" "SELECT unique_id FROM deletion_queue WHERE video_no = 'VI606404158946574337'")" = tenant-42 ] \
    && [ "$(sqlite3 "$db" "SELECT julianday(due_at) > julianday('now', '+29 days') FROM deletion_queue WHERE video_no = 'VI606404158946574338'")" = 1 ]; then
    pass "$file's SQL inserts three rows: one now, one in tenant-42, one due in 30 days"
  else
    fail "$file's SQL: $out"
  fi
}

# A configuration block, added to the stand-in's configuration: `check` says it is valid.
config_block() {
  local file=$1 heading=$2 config=$scratch/block.toml
  { cat config/standin.toml; python3 tests/lib/readme_block.py --in "$file" "$heading" toml; } > "$config"
  sed -i "s|^path = .*|path = \"$scratch/block.db\"|" "$config"
  local out
  if out=$(MEMORIES_API_KEY=standin-key "$bin" --config "$config" check 2>&1) \
    && grep -q "^config: --config .* is valid" <<< "$out"; then
    pass "$file's configuration ($heading) is valid"
  else
    fail "$file's configuration ($heading): $out"
  fi
}

# Lifecycle rules: the try-it (a stand-in with a catalogue, a rule, `rules plan`), then
# the operator's three commands against the book's own rule, /etc's file replaced.
rules() {
  local page=docs/src/rules-and-holds.md out
  mapfile -t lines < <(commands "$page" "## Lifecycle rules" sh 2)
  background "${lines[0]}" "$scratch/catalogue.log"
  wait_for listening 8787 || { fail "the catalogue stand-in: $(cat "$scratch/catalogue.log")"; stop_background; return; }
  out=$(bash -c "${lines[1]}" 2>&1 && bash -c "${lines[2]}" 2>&1) || true
  if grep -q 'old-failed' <<< "$out" && grep -Eq 'match|matched' <<< "$out"; then
    pass "the rules try-it plans its rule against the stand-in's catalogue"
  else
    fail "the rules try-it: $out"
  fi
  local config=$scratch/rules.toml
  { cat config/standin.toml; python3 tests/lib/readme_block.py --in "$page" "## Lifecycle rules" toml; } > "$config"
  sed -i "s|^path = .*|path = \"$scratch/rules.db\"|" "$config"
  "$bin" --config "$config" migrate > /dev/null
  mapfile -t lines < <(commands "$page" "## Lifecycle rules" sh 1 | sed "s|/etc/memories-reaper/config.toml|$config|")
  out=$(MEMORIES_API_KEY=standin-key bash -c "${lines[0]}" 2>&1; bash -c "${lines[1]}" 2>&1) || true
  if grep -q 'rule tenant-a-90-days (mode = "report", listed now)' <<< "$out" \
    && grep -q 'rule tenant-a-90-days: no listing yet' <<< "$out"; then
    pass "rules plan lists the book's rule now; plan --last says it has run no listing yet"
  else
    fail "rules plan, plan --last: $out"
  fi
  # No run of the rule has been held by a trip-wire: confirm says so, and what to look at.
  if out=$(bash -c "${lines[2]}" 2>&1); then
    fail "rules confirm confirmed a listing no trip-wire held: $out"
  elif grep -q 'has no listing held by a trip-wire' <<< "$out"; then
    pass "rules confirm, with nothing held, says so"
  else
    fail "rules confirm: $out"
  fi
  stop_background
  rm -f config/rules-try.toml
}

# Legal holds, on the default database (HOME a new folder, migrated first as the daemon
# would), keep.txt holding one video.
holds() {
  local home=$scratch/home out
  mkdir -p "$home/work"
  echo VI606404158946574400 > "$home/work/keep.txt"
  { echo "memories-reaper migrate > /dev/null"
    python3 tests/lib/readme_block.py --in docs/src/rules-and-holds.md "## Legal holds" sh
  } > "$scratch/holds.sh"
  out=$(cd "$home/work" && HOME=$home bash -e "$scratch/holds.sh" 2>&1) || {
    fail "the holds block: $out"
    return
  }
  if grep -q 'ticket 881' <<< "$out" && grep -q 'case 2026-17' <<< "$out"; then
    pass "the holds block places, lists and releases holds"
  else
    fail "the holds block lists: $out"
  fi
}

# PostgreSQL and several hosts: the try-it as written, one script (it starts and removes
# its own server).
postgres_try_it() {
  local out
  if ! ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1; then
    fail "the PostgreSQL try-it needs PostgreSQL's server binaries (apt install postgresql)"
    return
  fi
  python3 tests/lib/readme_block.py --in docs/src/postgresql.md "### Try it on one machine" sh \
    > "$scratch/postgres-try-it.sh"
  # In a reader's fresh shell: not the server CI's own pg_start exported (its PG_PORT
  # would be taken again, and its CA would not match the new server's).
  env -u PG_PORT -u PG_DIR -u MEMORIES_REAPER_TEST_POSTGRES \
    -u MEMORIES_REAPER_TEST_POSTGRES_CA -u MEMORIES_REAPER_DATABASE_URL \
    setsid bash "$scratch/postgres-try-it.sh" < /dev/null > "$scratch/postgres-try-it.log" 2>&1 &
  groups+=("$!")
  wait "$!" || true
  groups=()
  out=$(cat "$scratch/postgres-try-it.log")
  if grep -Eq 'deleted +2' <<< "$out" && grep -q 'now sends' <<< "$out" && grep -q 'standing by' <<< "$out"; then
    pass "the PostgreSQL try-it: two daemons, one sends, one stands by, 2 deleted"
  else
    fail "the PostgreSQL try-it: $out"
  fi
}

# Blocks whose commands another test runs: the test, and a line of it naming that.
declare -A elsewhere=(
  ["README.md|# memories-reaper|sh|1"]="tests/it/operator.rs|/// The README's first command"
  ["README.md|## Install on Debian or Ubuntu|sh|1"]="tests/booted-systemd.sh|# Installed as the README says"
  ["README.md|## Running the tests|sh|1"]=".ci/run|cargo test --locked"
  ["docs/src/install.md|## Install on Debian or Ubuntu|sh|1"]="tests/booted-systemd.sh|# Installed as the README says"
  ["docs/src/install.md|## Running under systemd|sh|1"]="tests/systemd-unit.sh|systemd/install.sh --root"
  ["docs/src/limits.md|## Benchmarks|sh|1"]=".ci/run|target/debug/examples/bench --quick"
  ["docs/src/monitoring.md|# Monitoring|sh|1"]="tests/booted-systemd.sh|journalctl -u memories-reaper BATCH_OUTCOME=deleted"
  ["docs/src/postgresql.md|### In production|sql|1"]="tests/booted-systemd.sh|--in docs/src/postgresql.md \"### In production\""
  ["docs/src/postgresql.md|### In production|sh|1"]="tests/booted-systemd.sh|--in docs/src/postgresql.md \"### In production\""
  ["docs/src/security.md|# Security: what the binary is made of|sh|1"]="tests/supply-chain.sh|cargo deny"
)

# Blocks that run here.
declare -A here=(
  ["README.md|# memories-reaper|sh|2"]=readme_walkthrough
  ["README.md|## Feeding the queue|sql|1"]="producers_sql README.md"
  ["docs/src/producers.md|# Feeding the queue (for producers)|sql|1"]="producers_sql docs/src/producers.md"
  ["docs/src/monitoring.md|### Metrics and alerts (Prometheus)|toml|1"]="config_block docs/src/monitoring.md"
  ["docs/src/rules-and-holds.md|## Lifecycle rules|toml|1"]="config_block docs/src/rules-and-holds.md"
  ["docs/src/rules-and-holds.md|## Lifecycle rules|sh|1"]=rules
  ["docs/src/rules-and-holds.md|## Lifecycle rules|sh|2"]=rules
  ["docs/src/rules-and-holds.md|## Legal holds|sh|1"]=holds
  ["docs/src/postgresql.md|### Try it on one machine|sh|1"]=postgres_try_it
)

declare -A done_already=()
while IFS=$'\t' read -r file heading lang n line; do
  key="$file|$heading|$lang|$n"
  # `tests/docs.sh WORD`: only the blocks whose file or heading holds WORD.
  [[ "$key" == *"${1:-}"* ]] || continue
  if [ -n "${here[$key]:-}" ]; then
    run=${here[$key]}
    [ -n "${done_already[$run]:-}" ] && continue
    done_already[$run]=1
    read -r -a call <<< "$run"
    "${call[@]}" "${call[1]:+$heading}"
  elif [ -n "${elsewhere[$key]:-}" ]; then
    test_file=${elsewhere[$key]%%|*}
    marker=${elsewhere[$key]#*|}
    if grep -qF -- "$marker" "$test_file"; then
      pass "$file:$line ($lang, $heading) runs in $test_file"
    else
      fail "$file:$line ($lang, $heading): $test_file no longer holds '$marker'"
    fi
  else
    fail "$file:$line: a $lang block under '$heading' that no test runs: run it in tests/docs.sh, or name the test that does"
  fi
done < <(python3 tests/lib/doc_blocks.py)

echo "docs: $passed passed, $failed failed"
[ "$failed" = 0 ]
