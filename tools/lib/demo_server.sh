# Sourced by tools/*.sh: starts the debug server on the demo county with a fresh SQLite
# file on a free port, and logs users in. Sets `base` (the server's URL), `work` (a
# temporary directory removed on exit, holding server.log) and `server_pid`.
#
#   source tools/lib/demo_server.sh
#   start_demo_server 300        # demo residents
#   tok=$(demo_token admin)

demo_cleanup() {
    if [ -n "${server_pid:-}" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "${work:-}"
}

start_demo_server() {
    local residents="${1:-300}"
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/jiayi-target}"
    cargo build -q --bin jiayi
    local bin="$CARGO_TARGET_DIR/debug/jiayi"
    work=$(mktemp -d)
    server_pid=""
    trap demo_cleanup EXIT
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    base="http://127.0.0.1:$port"
    DATABASE_URL="sqlite://$work/jiayi.db" JIAYI_MODE=demo JIAYI_BIND="127.0.0.1:$port" \
        JIAYI_DEMO_RESIDENTS="$residents" JIAYI_SYNC_RATE_PER_MINUTE=1000000 \
        JIAYI_LOGIN_MAX_FAILURES_PER_IP=1000000 RUST_LOG="${RUST_LOG:-warn}" \
        "$bin" >"$work/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 120); do
        curl -fsS "$base/readyz" >/dev/null 2>&1 && break
        kill -0 "$server_pid" 2>/dev/null || { echo "FAIL: the server exited" >&2; cat "$work/server.log" >&2; exit 1; }
        sleep 0.5
    done
    curl -fsS "$base/readyz" >/dev/null || { echo "FAIL: the server is not ready" >&2; exit 1; }
}

demo_token() {
    curl -fsS "$base/api/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"username\":\"$1\",\"password\":\"jiayi-demo\",\"device_id\":\"tools-$1\",\"device_name\":\"tools\"}" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}
