#!/usr/bin/env bash
# Make a local PostgreSQL server available for tests/postgres (issue 5). Idempotent:
# installs PostgreSQL if it is missing, starts the cluster if it is down, and creates a
# superuser role for the current OS user (root in CI) if it does not exist yet.
# The tests then connect through the local socket with WEBFUNNEL_PG_* defaults.
set -euo pipefail

PG_VERSION="${WEBFUNNEL_PG_VERSION:-15}"
PG_CLUSTER="${WEBFUNNEL_PG_CLUSTER:-main}"
ROLE="${WEBFUNNEL_PG_USER:-$(id -un)}"

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    echo "ci_postgres: installing PostgreSQL" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
fi

if ! pg_lsclusters -h | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" '$1 == v && $2 == c' | grep -q .; then
    # a freshly installed PostgreSQL of another major version: use whatever cluster exists
    PG_VERSION="$(pg_lsclusters -h | awk 'NR == 1 {print $1}')"
    PG_CLUSTER="$(pg_lsclusters -h | awk 'NR == 1 {print $2}')"
    if [ -z "$PG_VERSION" ]; then
        echo "ci_postgres: no PostgreSQL cluster found (pg_lsclusters is empty)" >&2
        exit 1
    fi
fi

status="$(pg_lsclusters -h | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" '$1 == v && $2 == c {print $4}')"
if [ "$status" != "online" ]; then
    echo "ci_postgres: starting cluster $PG_VERSION/$PG_CLUSTER" >&2
    pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start
fi

for _ in $(seq 1 30); do
    if su postgres -c "psql -qAtc 'select 1'" >/dev/null 2>&1; then
        break
    fi
    sleep 1
done

exists="$(su postgres -c "psql -qAtc \"select 1 from pg_roles where rolname = '$ROLE'\"")"
if [ "$exists" != "1" ]; then
    echo "ci_postgres: creating role $ROLE" >&2
    su postgres -c "psql -qc 'create role \"$ROLE\" superuser login'"
fi

echo "ci_postgres: PostgreSQL $PG_VERSION/$PG_CLUSTER is up; role $ROLE can log in" >&2
