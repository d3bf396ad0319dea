#!/bin/sh
# The part of the official postgres image's entrypoint that compose.yaml relies on: on an
# empty data directory, a cluster whose superuser is $POSTGRES_USER with the password in
# $POSTGRES_PASSWORD_FILE, a database $POSTGRES_DB, password logins from the network.
set -eu
if [ "${1:-}" != postgres ]; then
    exec "$@"
fi
mkdir -p "$PGDATA"
chown -R postgres:postgres "$PGDATA"
chmod 0700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    password_file="$(mktemp)"
    cat "$POSTGRES_PASSWORD_FILE" > "$password_file"
    chown postgres "$password_file"
    runuser -u postgres -- initdb --username="$POSTGRES_USER" --pwfile="$password_file" \
        --auth-local=trust --auth-host=scram-sha-256 -D "$PGDATA"
    rm -f "$password_file"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    runuser -u postgres -- pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
    runuser -u postgres -- psql -v ON_ERROR_STOP=1 --username="$POSTGRES_USER" --dbname=postgres \
        -c "CREATE DATABASE \"$POSTGRES_DB\""
    runuser -u postgres -- pg_ctl -D "$PGDATA" -m fast -w stop
fi
exec runuser -u postgres -- postgres -D "$PGDATA" -c listen_addresses='*'
