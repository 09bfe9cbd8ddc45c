#!/usr/bin/env bash
# Independent validation of the FHIR export (docs/interop.md): starts the demo county,
# exports it whole as the county administrator and as a township supervisor (gzip, as a
# platform would fetch it), and validates every line with tools/validate_fhir.py, which
# uses the fhir.resources R4B models installed, pinned, into a virtualenv. Fails (never
# skips) when anything cannot run.
set -euo pipefail
cd "$(dirname "$0")/.."

FHIR_RESOURCES_VERSION=8.3.0
VENV="${JIAYI_FHIR_VENV:-$HOME/.cache/jiayi-fhir-venv}"
if ! "$VENV/bin/python" -c "import fhir.resources as f, sys; sys.exit(f.__version__ != '$FHIR_RESOURCES_VERSION')" 2>/dev/null; then
    echo "installing fhir.resources $FHIR_RESOURCES_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "fhir.resources==$FHIR_RESOURCES_VERSION"
fi

source tools/lib/demo_server.sh
start_demo_server "${JIAYI_DEMO_RESIDENTS:-600}"

export_as() {
    local user="$1" region="$2" out="$work/$1"
    mkdir -p "$out"
    local tok
    tok=$(demo_token "$user")
    curl -fsS -H "Authorization: Bearer $tok" "$base/api/v1/exports/fhir?region=$region" >"$out/manifest.json"
    python3 - "$out/manifest.json" <<'PY' | while read -r kind url; do
import json, sys
m = json.load(open(sys.argv[1]))
for f in m["output"]:
    print(f["type"], f["url"])
PY
        curl -fsS --compressed -H "Authorization: Bearer $tok" "$base$url" >"$out/$kind.ndjson"
    done
    echo "==> $user's export of $region"
    "$VENV/bin/python" tools/validate_fhir.py "$out"
}

export_as admin 431126000000
export_as supervisor1 431126100000
