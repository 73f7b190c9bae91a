#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests, from Debian's binaries: `initdb` into a
# temporary folder (as the `postgres` user when run as root: the server refuses root),
# listening on 127.0.0.1 and a socket in that folder, with password authentication.
# TLS is on, with a certificate for localhost and 127.0.0.1 from a CA made for the run.
# Sourced: `pg_start` exports MEMORIES_REAPER_TEST_POSTGRES (a superuser's URL, for the
# tests to create a database each), MEMORIES_REAPER_TEST_POSTGRES_CA (the CA's
# certificate) and PG_DIR; `pg_stop` stops the server and removes it.
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)

# PG_LISTEN (default 127.0.0.1): the address it listens on, also in its certificate;
# PG_NETNS: a network namespace to run it in (root only); PG_HBA: an extra pg_hba.conf line.
pg_as() {
  local prefix=()
  [ -n "${PG_NETNS:-}" ] && prefix=(ip netns exec "$PG_NETNS")
  if [ "$(id -u)" = 0 ]; then "${prefix[@]}" runuser -u postgres -- "$@"; else "$@"; fi
}

pg_start() {
  [ -x "$pg_bin/initdb" ] || { echo "no PostgreSQL binaries under /usr/lib/postgresql" >&2; return 1; }
  PG_DIR=$(mktemp -d /tmp/mr-pg.XXXXXX)
  chmod 755 "$PG_DIR"
  [ "$(id -u)" = 0 ] && chown postgres: "$PG_DIR"
  PG_PORT=${PG_PORT:-$((30000 + RANDOM % 20000))}
  local password=reaper-test-$RANDOM$RANDOM
  echo "$password" > "$PG_DIR/pw" && chmod 600 "$PG_DIR/pw"
  [ "$(id -u)" = 0 ] && chown postgres: "$PG_DIR/pw"
  pg_as "$pg_bin/initdb" -D "$PG_DIR/data" -U reaper_admin --pwfile="$PG_DIR/pw" \
    --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 > "$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log" >&2; return 1; }
  (
    cd "$PG_DIR" &&
      openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 \
        -subj "/CN=memories-reaper test CA" &&
      openssl req -newkey rsa:2048 -nodes -keyout data/server.key -out server.csr \
        -subj "/CN=localhost" &&
      printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:%s\n' "${PG_LISTEN:-127.0.0.1}" > san &&
      openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
        -out data/server.crt -days 2 -extfile san
  ) > "$PG_DIR/tls.log" 2>&1 || { cat "$PG_DIR/tls.log" >&2; return 1; }
  chmod 644 "$PG_DIR/ca.crt"
  [ -n "${PG_HBA:-}" ] && echo "$PG_HBA" >> "$PG_DIR/data/pg_hba.conf"
  chmod 600 "$PG_DIR/data/server.key"
  [ "$(id -u)" = 0 ] && chown postgres: "$PG_DIR/data/server.key" "$PG_DIR/data/server.crt"
  pg_as "$pg_bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
    -o "-c listen_addresses=${PG_LISTEN:-127.0.0.1} -p $PG_PORT -k $PG_DIR -c max_connections=300 -c fsync=off -c ssl=on" start > /dev/null \
    || { cat "$PG_DIR/server.log" >&2; return 1; }
  export PG_DIR PG_PORT
  export MEMORIES_REAPER_TEST_POSTGRES="postgres://reaper_admin:$password@${PG_LISTEN:-127.0.0.1}:$PG_PORT/postgres"
  export MEMORIES_REAPER_TEST_POSTGRES_CA="$PG_DIR/ca.crt"
}

pg_restart() {
  pg_as "$pg_bin/pg_ctl" -D "$PG_DIR/data" -m fast -w restart > /dev/null
}

pg_stop() {
  [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ] || return 0
  pg_as "$pg_bin/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop > /dev/null 2>&1 || true
  rm -rf "$PG_DIR"
}
