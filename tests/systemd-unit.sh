#!/usr/bin/env bash
# The unit and its install script, as far as this machine allows (PID 1 is not systemd):
# - `systemd-analyze verify` prints nothing (it exits 0 on some errors, so its output is
#   what counts);
# - `systemd-analyze security --offline=true` rates its exposure at most 2.0 ("OK");
# - systemd/install.sh puts every file in place in a scratch root, keeps an operator's
#   config on reinstall, and --uninstall / --purge take away what they say.
# Run by .ci/run; needs systemd-analyze (Debian's `systemd` package).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/target/debug/memories-reaper
[ -x "$bin" ] || cargo build --quiet --bin memories-reaper
unit=systemd/memories-reaper.service
passed=0
failed=0
pass() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAILED: $*"; failed=$((failed + 1)); }

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# verify looks for ExecStart's binary: point it at the one just built.
sed "s|^ExecStart=memories-reaper |ExecStart=$bin |" "$unit" > "$scratch/memories-reaper.service"
if out=$(systemd-analyze verify --recursive-errors=no "$scratch/memories-reaper.service" 2>&1) && [ -z "$out" ]; then
  pass "systemd-analyze verify is clean"
else
  fail "systemd-analyze verify: $out"
fi

# --threshold makes it exit non-zero when the exposure (x10) is above 20.
if out=$(systemd-analyze security --offline=true --threshold=20 "$unit" 2>&1); then
  pass "exposure: $(echo "$out" | tail -1 | sed 's/.*Overall exposure level for //')"
else
  fail "exposure above 2.0: $(echo "$out" | tail -1)"
fi

root=$scratch/root
BIN=$bin systemd/install.sh --root "$root" > "$scratch/install.log"
expect_files() {
  local want=$1; shift
  for f in "$@"; do
    if [ "$want" = present ] && [ ! -e "$root$f" ]; then fail "$f missing after install"; return; fi
    if [ "$want" = absent ] && [ -e "$root$f" ]; then fail "$f still there"; return; fi
  done
  pass "$want: $*"
}
installed=(/usr/local/bin/memories-reaper /etc/systemd/system/memories-reaper.service
  /usr/lib/sysusers.d/memories-reaper.conf /etc/memories-reaper/config.toml
  /usr/local/share/man/man1/memories-reaper.1 /usr/local/share/man/man1/memories-reaper-run.1
  /usr/local/share/bash-completion/completions/memories-reaper
  /usr/local/share/zsh/site-functions/_memories-reaper
  /usr/local/share/fish/vendor_completions.d/memories-reaper.fish)
expect_files present "${installed[@]}"
# `check` may fail on this machine's key and database; the config line is what counts.
checked=$("$root/usr/local/bin/memories-reaper" --config "$root/etc/memories-reaper/config.toml" check 2>&1 || true)
if grep -q "^config: .* is valid$" <<< "$checked" && grep -q "^database: /var/lib/memories-reaper/queue.db" <<< "$checked"; then
  pass "the installed config parses and names the service's database"
else
  fail "the installed config does not parse: $checked"
fi

echo "# the operator's" >> "$root/etc/memories-reaper/config.toml"
BIN=$bin systemd/install.sh --root "$root" > /dev/null
if grep -q "# the operator's" "$root/etc/memories-reaper/config.toml"; then
  pass "a reinstall keeps the operator's config"
else
  fail "a reinstall overwrote the operator's config"
fi

echo key > "$root/etc/memories-reaper/api_key"
systemd/install.sh --root "$root" --uninstall > /dev/null
expect_files absent /usr/local/bin/memories-reaper /etc/systemd/system/memories-reaper.service /usr/lib/sysusers.d/memories-reaper.conf \
  /usr/local/share/man/man1/memories-reaper.1 /usr/local/share/bash-completion/completions/memories-reaper
expect_files present /etc/memories-reaper/config.toml /etc/memories-reaper/api_key
systemd/install.sh --root "$root" --purge > /dev/null
expect_files absent /etc/memories-reaper
# Its own help, and a clear error for --root without a folder (not an unbound variable).
if systemd/install.sh --help | grep -q -- '--uninstall'; then pass "install.sh --help prints its usage"; else fail "install.sh --help"; fi
if out=$(systemd/install.sh --root 2>&1); then
  fail "install.sh --root without a folder succeeded"
elif echo "$out" | grep -q 'needs a folder'; then
  pass "install.sh --root without a folder says what is missing"
else
  fail "install.sh --root without a folder: $out"
fi

echo "systemd-unit: $passed passed, $failed failed"
[ "$failed" = 0 ]
