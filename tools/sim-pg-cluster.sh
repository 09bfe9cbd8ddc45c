#!/usr/bin/env bash
# A PostgreSQL cluster of its own for the fault harness (jiayi-sim faults): its pg-restart
# fault restarts this cluster, never the machine's main one, which other jobs may be using.
# Creates the cluster on first use (trust authentication on localhost, like a CI machine),
# starts it, and prints the command that restarts it.
#
#   restart_cmd=$(tools/sim-pg-cluster.sh)     # port 5433 unless SIM_PG_PORT says otherwise
set -euo pipefail
version=${PG_VERSION:-$(ls /etc/postgresql | sort -n | tail -n 1)}
name=${SIM_PG_CLUSTER:-jiayisim}
port=${SIM_PG_PORT:-5433}
if ! pg_lsclusters -h | awk '{print $2}' | grep -qx "$name"; then
    pg_createcluster "$version" "$name" -p "$port" -- --auth=trust >/dev/null
fi
pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start >/dev/null 2>&1 || true
for _ in $(seq 1 30); do
    pg_isready -h 127.0.0.1 -p "$port" -q && break
    sleep 1
done
pg_isready -h 127.0.0.1 -p "$port" -q || { echo "cluster $version/$name does not answer on $port" >&2; exit 1; }
echo "pg_ctlcluster --skip-systemctl-redirect $version $name restart"
