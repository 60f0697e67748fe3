#!/usr/bin/env bash
# Starts (or finds running) a PostgreSQL server for the tests on 127.0.0.1:${RAMPART_PG_PORT:-55432},
# trust authentication, data in ${RAMPART_PG_DIR:-/tmp/rampart-pg}. Installs Debian's postgresql
# package when no server binaries are found. Prints the URL to use as RAMPART_TEST_POSTGRES.
# Idempotent. `scripts/postgres.sh stop` stops it.
set -euo pipefail
port="${RAMPART_PG_PORT:-55432}"
dir="${RAMPART_PG_DIR:-/tmp/rampart-pg}"
url="postgres://postgres@127.0.0.1:$port/postgres"

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
bin="$(bindir)"
if [ -z "$bin" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >&2 || true
  bin="$(bindir)"
  [ -n "$bin" ] || { echo "postgres.sh: PostgreSQL not found and could not be installed (apt-get install postgresql)" >&2; exit 2; }
fi

# initdb refuses to run as root: run the server as the postgres user then
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}

if [ "${1:-}" = "stop" ]; then
  [ -f "$dir/postmaster.pid" ] && as_owner "$bin/pg_ctl -D $dir -m fast stop" >&2 || true
  exit 0
fi

if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
  echo "$url"
  exit 0
fi
if [ ! -f "$dir/PG_VERSION" ]; then
  rm -rf "$dir"
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
  as_owner "$bin/initdb -D $dir -A trust -U postgres --no-sync" >/dev/null
fi
# a server that died left its pid file behind
as_owner "$bin/pg_ctl -D $dir status" >/dev/null 2>&1 || rm -f "$dir/postmaster.pid"
as_owner "$bin/pg_ctl -D $dir -l $dir/server.log -w -t 60 -o \"-p $port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off\" start" >/dev/null
"$bin/pg_isready" -q -h 127.0.0.1 -p "$port" || { echo "postgres.sh: the server did not start; see $dir/server.log" >&2; exit 2; }
echo "$url"
