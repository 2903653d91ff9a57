#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests (issue 22): no container, Debian's postgresql package.
#   tests/Postgres/cluster.sh start DIR PORT [durable]
#                                              initdb in DIR (a new directory), start on 127.0.0.1:PORT, print a
#                                              connection string for its superuser (a random password, scram-sha-256);
#                                              fsync and synchronous_commit off unless `durable` (a test that crashes
#                                              the server and counts what survived needs them on)
#   tests/Postgres/cluster.sh stop DIR         stop it at once and remove DIR
#   tests/Postgres/cluster.sh down DIR         stop the server at once (as a crash or a restart does), keeping DIR
#   tests/Postgres/cluster.sh up DIR           start it again, on its port (durable or not as it was started)
# Env: DURABLE=1 is the same as `durable` (bench/load/postgres.sh: commits wait for the disk, as in production);
#      PG_OPTIONS, more server options at start (kept by down/up), e.g. "-c shared_preload_libraries=pg_stat_statements".
# Installs the postgresql package with apt-get when initdb is missing. initdb refuses to run as root, so as root the
# cluster runs as the `postgres` user (DIR must be where that user can reach: under /tmp, not under /root).
# Fails with a message on stderr (never skips): the tests that need it fail with it.
set -euo pipefail
command=${1:?usage: cluster.sh start DIR PORT [durable] | stop DIR | down DIR | up DIR}
dir=${2:?the directory of the cluster}

bin_dir() {
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$found" ] || [ ! -x "$found/initdb" ]; then
    echo "cluster.sh: PostgreSQL is not installed; installing Debian's postgresql package" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } >&2 \
      || { echo "cluster.sh: apt-get could not install postgresql" >&2; exit 1; }
    found=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  echo "$found"
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Loopback only; its socket in the cluster's own directory; fsync off unless durable (a throwaway cluster: a crash of the
# machine loses it anyway; with synchronous_commit off a crash of the server loses its last commits).
server_up() {
  as_owner "$1/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $2 -k $dir $(cat "$dir/durability") -c max_connections=200" start >/dev/null \
    || { echo "cluster.sh: the server did not start:" >&2; tail -n 20 "$dir/server.log" >&2; exit 1; }
}

case "$command" in
  start)
    port=${3:?the port to listen on}
    bin=$(bin_dir)
    [ -e "$dir" ] && { echo "cluster.sh: $dir exists already; give a new directory" >&2; exit 1; }
    mkdir -p "$dir"
    password=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
    printf '%s\n' "$password" > "$dir/.pw"
    [ "$(id -u)" = 0 ] && chown -R postgres: "$dir"
    chmod 700 "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U fsr --auth=scram-sha-256 --pwfile="$dir/.pw" -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { echo "cluster.sh: initdb failed:" >&2; cat "$dir/initdb.log" >&2; exit 1; }
    rm -f "$dir/.pw"
    echo "$port" > "$dir/port"
    if [ "${4:-}" = durable ] || [ "${DURABLE:-0}" = 1 ]; then
      echo "-c fsync=on -c synchronous_commit=on -c full_page_writes=on" > "$dir/durability"
    else
      echo "-c fsync=off -c synchronous_commit=off -c full_page_writes=off" > "$dir/durability"
    fi
    [ -n "${PG_OPTIONS:-}" ] && sed -i "s|\$| $PG_OPTIONS|" "$dir/durability"
    server_up "$bin" "$port"
    echo "Host=127.0.0.1;Port=$port;Username=fsr;Password=$password;Database=postgres"
    ;;
  down)
    bin=$(bin_dir)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null \
      || { echo "cluster.sh: the server did not stop" >&2; exit 1; }
    ;;
  up)
    bin=$(bin_dir)
    server_up "$bin" "$(cat "$dir/port")"
    ;;
  stop)
    if [ -d "$dir/data" ]; then
      bin=$(bin_dir)
      as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: cluster.sh start DIR PORT [durable] | stop DIR | down DIR | up DIR" >&2; exit 2 ;;
esac
