#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers at CHILD_REGISTRY_TEST_DATABASE_URL's host (default
# 127.0.0.1:5432) with trust authentication and a `test` database: starts an installed cluster
# that is down, or installs Debian's postgresql package when there is none.
set -euo pipefail

host=127.0.0.1
port=5432

as_postgres() {
    if command -v runuser >/dev/null 2>&1; then runuser -u postgres -- "$@"; else su postgres -c "$(printf '%q ' "$@")"; fi
}

ready() { pg_isready -q -h "$host" -p "$port" 2>/dev/null; }

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        echo "PostgreSQL is not installed; run this script as root (or install postgresql)" >&2
        exit 1
    fi
    echo "installing PostgreSQL (Debian package)…" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq postgresql >/dev/null
fi

version=$(ls /etc/postgresql | sort -V | tail -n 1)
if ! ready; then
    echo "starting PostgreSQL $version…" >&2
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do ready && break; sleep 1; done
fi
ready || { echo "PostgreSQL did not start on $host:$port" >&2; exit 1; }

# Trust local TCP connections (a test server only): the tests connect as postgres, no password.
if ! psql -h "$host" -p "$port" -U postgres -d postgres -Atc 'SELECT 1' >/dev/null 2>&1; then
    hba=$(as_postgres psql -Atc 'SHOW hba_file')
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    as_postgres psql -qAtc 'SELECT pg_reload_conf()' >/dev/null
    sleep 1
fi

psql -h "$host" -p "$port" -U postgres -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 \
    || psql -h "$host" -p "$port" -U postgres -d postgres -qc 'CREATE DATABASE test'

# Scratch databases left by interrupted test runs: only those nobody is connected to, so a
# benchmark or another test run using its own scratch database is left alone.
for name in $(psql -h "$host" -p "$port" -U postgres -d postgres -Atc \
    "SELECT d.datname FROM pg_database d WHERE d.datname LIKE 'child_registry_scratch_%' \
     AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)"); do
    psql -h "$host" -p "$port" -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $name" >/dev/null || true
done
echo "PostgreSQL ready on $host:$port" >&2
