# Sourced by the tests that need a Debian root of their own (never this machine's system):
# `debian_root DIR` fills DIR with a minimal bookworm carrying systemd, built by
# debootstrap once per machine (about 35 s) and kept as a tarball in
# /var/cache/memories-reaper-ci. Installs debootstrap if it is missing.
debian_root() {
  local dir=$1 cache=/var/cache/memories-reaper-ci/bookworm-root.tar
  if [ ! -s "$cache" ]; then
    command -v debootstrap >/dev/null 2>&1 || {
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    }
    local fresh
    fresh=$(mktemp -d)
    mkdir -p "$(dirname "$cache")"
    if ! debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus bookworm "$fresh" \
      http://deb.debian.org/debian > "$fresh.log" 2>&1; then
      tail -20 "$fresh.log"; rm -rf "$fresh" "$fresh.log"; return 1
    fi
    # mktemp -d made it 0700, and tar records "." with that mode: a root only root may
    # enter, where every service that drops privileges (dbus first) fails to start.
    chmod 0755 "$fresh"
    tar -C "$fresh" -cf "$cache.new" . && mv "$cache.new" "$cache"
    rm -rf "$fresh" "$fresh.log"
  fi
  mkdir -p "$dir"
  tar -C "$dir" -xf "$cache"
  # A cache written before the chmod above carries a 0700 root.
  chmod 0755 "$dir"
}
