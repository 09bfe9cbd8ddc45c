#!/usr/bin/env python3
"""Searches a whole jiayi database for resident ID numbers (GB 11643, checksum-valid, with
a real birth date) and phones in clear: mainland mobiles standing alone, landlines with an
area code (0xx-xxxxxxxx). Every text column of every table is read; binary columns (blob
bytes) are not. Prints where (table, column, row key, the value masked) and exits 1 when
any is found; exits 2 when the database cannot be read or holds no tables.

    tools/scan_db_pii.py sqlite:///path/to/jiayi.db
    tools/scan_db_pii.py postgres://user@host:5432/dbname     (read with psql)

One place may hold phones in clear: `residents.phone`, the resident's own record, which
their team calls (docs/security.md, "Refused ops at rest"). Nothing may hold an ID number.
"""

import json
import os
import re
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scan_pii import ID_RE, PHONE_RE, is_id_number, mask  # noqa: E402

LANDLINE_RE = re.compile(r"(?<![0-9A-Za-z])(0[1-9][0-9]{1,2}-[2-9][0-9]{6,7})(?![0-9A-Za-z])")
PHONES_ALLOWED = {("residents", "phone")}


def hits_in(text):
    out = [("ID number", m) for m in ID_RE.findall(text) if is_id_number(m)]
    out += [("phone", m) for m in PHONE_RE.findall(text)]
    out += [("phone", m) for m in LANDLINE_RE.findall(text)]
    return out


def sqlite_rows(path):
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    if not tables:
        raise RuntimeError("no tables")
    for t in tables:
        cols = [r[1] for r in conn.execute(f'PRAGMA table_info("{t}")')]
        for row in conn.execute(f'SELECT rowid, * FROM "{t}"'):
            for col, value in zip(cols, row[1:]):
                if isinstance(value, str):
                    yield t, col, row[0], value


def pg_rows(url):
    def psql(sql):
        out = subprocess.run(
            ["psql", url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
            check=True, capture_output=True, text=True,
        )
        return [line for line in out.stdout.splitlines() if line]

    tables = psql(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
    )
    if not tables:
        raise RuntimeError("no tables")
    for t in tables:
        cols = psql(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
            f"AND table_name = '{t}' AND data_type IN ('text', 'character varying', 'json', 'jsonb')"
        )
        if not cols:
            continue
        picked = ", ".join(f'"{c}"' for c in cols)
        # One JSON object per row keeps values with newlines on one line.
        for no, line in enumerate(psql(f'SELECT row_to_json(r)::text FROM (SELECT {picked} FROM "{t}") r'), 1):
            for col, value in json.loads(line).items():
                if isinstance(value, str):
                    yield t, col, no, value


def main(url):
    if url.startswith("sqlite://"):
        rows = sqlite_rows(url[len("sqlite://"):])
    elif url.startswith(("postgres://", "postgresql://")):
        rows = pg_rows(url)
    else:
        print(f"scan_db_pii: not a sqlite:// or postgres:// URL: {url}", file=sys.stderr)
        return 2
    found = 0
    values = 0
    try:
        for table, col, key, value in rows:
            values += 1
            for kind, hit in hits_in(value):
                if kind == "phone" and (table, col) in PHONES_ALLOWED:
                    continue
                found += 1
                if found <= 20:
                    print(f"{table}.{col} (row {key}): a {kind} in clear ({mask(hit)})")
    except (sqlite3.Error, subprocess.CalledProcessError, RuntimeError) as e:
        print(f"scan_db_pii: cannot read the database: {e}", file=sys.stderr)
        return 2
    print(f"scan_db_pii: {values} text values searched")
    if found:
        print(f"scan_db_pii: {found} ID number(s) or phone(s) in clear", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
