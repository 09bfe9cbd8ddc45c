#!/usr/bin/env bash
# A PostgreSQL primary and a streaming replica of it, clusters of their own, for the test
# of reports read from a replica (tests/api/report_replica.rs, JIAYI_REPORT_DATABASE_URL).
# Creates them on first use (trust authentication on localhost, like a CI machine), starts
# them, waits until the replica is in recovery and streaming, and prints the two ports.
#
#   read -r primary replica < <(tools/pg-replica.sh)    # 5434 and 5435 unless told otherwise
set -euo pipefail
version=${PG_VERSION:-$(ls /etc/postgresql | sort -n | tail -n 1)}
primary=${REPLICA_PRIMARY_PORT:-5434}
replica=${REPLICA_PORT:-5435}
wait_for() {
    for _ in $(seq 1 60); do
        pg_isready -h 127.0.0.1 -p "$1" -q && return 0
        sleep 1
    done
    echo "nothing answers on port $1" >&2
    exit 1
}
have() { pg_lsclusters -h | awk '{print $2}' | grep -qx "$1"; }
if ! have jiayiprimary; then
    pg_createcluster "$version" jiayiprimary -p "$primary" -- --auth=trust >/dev/null
fi
pg_ctlcluster --skip-systemctl-redirect "$version" jiayiprimary start >/dev/null 2>&1 || true
wait_for "$primary"
if ! have jiayireplica; then
    pg_createcluster "$version" jiayireplica -p "$replica" -- --auth=trust >/dev/null
    data=$(pg_lsclusters -h | awk '$2 == "jiayireplica" {print $6}')
    rm -rf "${data:?}"/*
    # -R writes the standby's connection settings and standby.signal.
    runuser -u postgres -- pg_basebackup -h 127.0.0.1 -p "$primary" -U postgres -D "$data" -R -X stream -c fast
fi
pg_ctlcluster --skip-systemctl-redirect "$version" jiayireplica start >/dev/null 2>&1 || true
wait_for "$replica"
for _ in $(seq 1 60); do
    if [ "$(psql -h 127.0.0.1 -p "$replica" -U postgres -Atc 'select pg_is_in_recovery()')" = t ] &&
        [ "$(psql -h 127.0.0.1 -p "$primary" -U postgres -Atc 'select count(*) from pg_stat_replication')" -ge 1 ]; then
        echo "$primary $replica"
        exit 0
    fi
    sleep 1
done
echo "the replica on $replica is not streaming from $primary" >&2
exit 1
