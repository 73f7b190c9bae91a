#!/usr/bin/env bash
# The Debian package: built from this tree (packaging/build-deb.sh), lintian-clean (every
# remaining tag explained in packaging/deb/lintian-overrides), then installed, upgraded
# over itself with an edited conffile, removed and purged in a throwaway Debian root
# (debootstrap, never this machine's own system), checking what is there after each step.
# Needs root; installs lintian if missing. The root: tests/lib/debian-root.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/lib/debian-root.sh
command -v lintian >/dev/null 2>&1 || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lintian >/dev/null
}

passed=0
failed=0
pass() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAILED: $*"; failed=$((failed + 1)); }

scratch=$(mktemp -d)
root=$scratch/root
cleanup() {
  umount "$root/proc" 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT

# The release binary when it is built (CI builds it for the supply-chain audit).
[ -x target/release/memories-reaper ] || cargo build --release --locked --quiet
export BIN=$PWD/target/release/memories-reaper
deb=$(packaging/build-deb.sh "$scratch/out")
next=$(DEB_VERSION="$(dpkg-deb -f "$deb" Version)+1" packaging/build-deb.sh "$scratch/out")
# A binary with packed relocations runs only on glibc 2.36 or later: the package says so.
if readelf --version-info "$BIN" | grep -q GLIBC_ABI_DT_RELR; then
  case "$(dpkg-deb -f "$deb" Depends)" in
    *"libc6 (>= 2.36)"*) pass "Depends asks glibc 2.36, which the packed relocations need" ;;
    *) fail "packed relocations, but Depends: $(dpkg-deb -f "$deb" Depends)" ;;
  esac
fi
if out=$(lintian -I --pedantic --fail-on error,warning,info,pedantic "$deb" 2>&1); then
  pass "lintian is clean (overrides: $(grep -c '^memories-reaper:' packaging/deb/lintian-overrides), each with its reason)"
else
  fail "lintian: $out"
fi

debian_root "$root"
mount -t proc proc "$root/proc"
cp "$deb" "$root/tmp/package.deb"
cp "$next" "$root/tmp/next.deb"
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
# A link counts as there even when it points at nothing (its target is the root's, not ours).
there() { [ -e "$root$1" ] || [ -L "$root$1" ]; }
present() { for f in "$@"; do there "$f" || { fail "missing: $f"; return 1; }; done; }
absent() { for f in "$@"; do ! there "$f" || { fail "left behind: $f"; return 1; }; done; }

# Install as the README says: files in place, the user made, nothing enabled or started.
if out=$(in_root dpkg -i /tmp/package.deb 2>&1); then pass "dpkg -i installs it"; else fail "dpkg -i: $out"; fi
present /usr/bin/memories-reaper /lib/systemd/system/memories-reaper.service \
  /usr/lib/sysusers.d/memories-reaper.conf /etc/memories-reaper/config.toml \
  /usr/share/man/man1/memories-reaper.1.gz /usr/share/man/man1/memories-reaper-run.1.gz \
  /usr/share/bash-completion/completions/memories-reaper \
  /usr/share/zsh/vendor-completions/_memories-reaper \
  /usr/share/fish/vendor_completions.d/memories-reaper.fish \
  /usr/share/doc/memories-reaper/copyright && pass "every file is in place"
if in_root getent passwd memories-reaper >/dev/null && in_root getent group memories-reaper >/dev/null; then
  pass "the user and group exist (systemd-sysusers, without systemd running)"
else
  fail "no memories-reaper user or group"
fi
absent /etc/systemd/system/multi-user.target.wants/memories-reaper.service && pass "the service is not enabled"
# With --config the check names the flag; without it, the installed file is the one read
# (config::Source's lookup order: --config, $MEMORIES_REAPER_CONFIG, the installed file).
checked=$(in_root memories-reaper --config /etc/memories-reaper/config.toml check 2>&1 || true)
if echo "$checked" | grep -q "^config: --config /etc/memories-reaper/config.toml is valid" \
  && echo "$checked" | grep -q "/var/lib/memories-reaper/queue.db"; then
  pass "check runs from the installed files and names the service's queue"
else
  fail "check: $checked"
fi
checked=$(in_root memories-reaper check 2>&1 || true)
if echo "$checked" | grep -q "^config: /etc/memories-reaper/config.toml (the installed configuration" \
  && echo "$checked" | grep -q "/var/lib/memories-reaper/queue.db"; then
  pass "check without --config reads the installed configuration"
else
  fail "check without --config: $checked"
fi
if zcat "$root/usr/share/man/man1/memories-reaper.1.gz" | man -l - 2>/dev/null | grep -q 'MEMORIES_API_KEY'; then
  pass "man renders the installed page"
else
  fail "the installed man page does not render"
fi

# An operator's edit, then the same package again and a newer one: the edit survives.
echo '# edited by the operator' >> "$root/etc/memories-reaper/config.toml"
for pkg in /tmp/package.deb /tmp/next.deb; do
  if out=$(in_root dpkg -i "$pkg" 2>&1 < /dev/null); then
    pass "dpkg -i $pkg over the installed one"
  else
    fail "dpkg -i $pkg: $out"
  fi
  if grep -q '# edited by the operator' "$root/etc/memories-reaper/config.toml"; then
    pass "the edited conffile is kept"
  else
    fail "the operator's edit is gone after $pkg"
  fi
done
[ "$(in_root dpkg-query -W -f '${Version}' memories-reaper)" = "$(dpkg-deb -f "$next" Version)" ] \
  && pass "the newer version is installed" || fail "not upgraded"

# Enabled by the operator (the README's step), then removed and purged: no link is left.
in_root systemctl enable memories-reaper > /dev/null 2>&1 || fail "systemctl enable in the root"
present /etc/systemd/system/multi-user.target.wants/memories-reaper.service && pass "systemctl enable made its link"
# A queue, as the daemon would have left it: purge keeps it.
install -d "$root/var/lib/memories-reaper" && touch "$root/var/lib/memories-reaper/queue.db"
echo 'the-key' > "$root/etc/memories-reaper/api_key"
if out=$(in_root dpkg -r memories-reaper 2>&1); then pass "dpkg -r removes it"; else fail "dpkg -r: $out"; fi
absent /usr/bin/memories-reaper /lib/systemd/system/memories-reaper.service \
  /usr/share/man/man1/memories-reaper.1.gz && pass "remove takes the program away"
present /etc/memories-reaper/config.toml /etc/memories-reaper/api_key \
  /var/lib/memories-reaper/queue.db && pass "remove keeps config, key and queue"
if out=$(in_root dpkg -P memories-reaper 2>&1); then pass "dpkg -P purges it"; else fail "dpkg -P: $out"; fi
absent /etc/memories-reaper && pass "purge takes the config and the key"
absent /etc/systemd/system/multi-user.target.wants/memories-reaper.service \
  && pass "purge takes the operator's enablement"
if present /var/lib/memories-reaper/queue.db && echo "$out" | grep -q 'queue in /var/lib/memories-reaper is kept'; then
  pass "purge keeps the queue and says so"
else
  fail "purge: the queue or the message about it: $out"
fi
[ -z "$(in_root dpkg-query -W -f '${Status}' memories-reaper 2>/dev/null | grep -v 'not-installed')" ] \
  && pass "dpkg knows nothing of it" || fail "dpkg still lists it"

echo "debian-package: $passed passed, $failed failed"
[ "$failed" = 0 ]
