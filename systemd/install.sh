#!/usr/bin/env bash
# Installs or removes memories-reaper as a systemd service.
#
#   systemd/install.sh               build (cargo [auditable] install --locked) and install, as root
#   systemd/install.sh --uninstall   stop and remove the service, keep config, key and queue
#   systemd/install.sh --purge       also remove /etc/memories-reaper and /var/lib/memories-reaper
#
# --root DIR installs into DIR instead of / (a scratch root: nothing is started there).
# BIN=path uses an already built binary instead of running cargo install.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=/
action=install
usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"; }
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --root)
      if [ $# -lt 2 ] || [ -z "$2" ]; then
        echo "install.sh: --root needs a folder (--root DIR); see --help" >&2; exit 2
      fi
      root=$2; shift 2 ;;
    --uninstall) action=uninstall; shift ;;
    --purge) action=purge; shift ;;
    *) echo "install.sh: unknown argument $1; see --help" >&2; exit 2 ;;
  esac
done
live=false
[ "$root" = / ] && live=true
r=${root%/}

bin=$r/usr/local/bin/memories-reaper
unit=$r/etc/systemd/system/memories-reaper.service
sysusers=$r/usr/lib/sysusers.d/memories-reaper.conf
etc=$r/etc/memories-reaper

if [ "$action" = install ]; then
  if [ -n "${BIN:-}" ]; then
    install -D -m 0755 "$BIN" "$bin"
  else
    # With cargo-auditable the binary carries its dependency list, so that an operator can
    # audit it later (`cargo audit bin`); without it, a plain build, and a word about it.
    if cargo auditable --version >/dev/null 2>&1; then
      cargo auditable install --locked --path "$here/.." --root "$r/usr/local"
    else
      echo "note: cargo-auditable is not installed; the binary will not carry its dependency list" >&2
      cargo install --locked --path "$here/.." --root "$r/usr/local"
    fi
    rm -f "$r/usr/local/.crates.toml" "$r/usr/local/.crates2.json"
  fi
  install -D -m 0644 "$here/memories-reaper.service" "$unit"
  install -D -m 0644 "$here/memories-reaper.sysusers" "$sysusers"
  install -d -m 0755 "$etc"
  # An existing config is the operator's: never overwritten. A new one names the database
  # outright, so that the operator's own commands (`status`, `prune`, …) given this config
  # find the service's queue rather than a per-user one.
  if [ ! -e "$etc/config.toml" ]; then
    sed 's|^# path = "/var/lib/memories-reaper/queue.db"$|path = "/var/lib/memories-reaper/queue.db"|' \
      "$here/../config/memories-reaper.toml" > "$etc/config.toml"
    chmod 0644 "$etc/config.toml"
  fi
  if $live; then
    systemd-sysusers memories-reaper.conf
    systemctl daemon-reload
  fi
  echo "installed. Next:"
  [ -e "$etc/api_key" ] || echo "  put the key in $etc/api_key: install -m 0600 /dev/stdin $etc/api_key <<< 'KEY'"
  echo "  systemctl enable --now memories-reaper"
  echo "  let producers in: usermod -aG memories-reaper USER"
  exit 0
fi

if $live; then
  systemctl disable --now memories-reaper.service 2>/dev/null || true
fi
rm -f "$bin" "$unit" "$sysusers"
if [ "$action" = purge ]; then
  rm -rf "$etc" "$r/var/lib/memories-reaper" "$r/var/lib/private/memories-reaper"
  if $live && getent passwd memories-reaper >/dev/null; then userdel memories-reaper || true; fi
  if $live && getent group memories-reaper >/dev/null; then groupdel memories-reaper || true; fi
fi
if $live; then systemctl daemon-reload; fi
echo "removed memories-reaper$([ "$action" = purge ] && echo ", its config, key and queue" || echo "; config, key and queue kept (--purge removes them)")"
