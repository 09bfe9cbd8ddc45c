#!/usr/bin/env python3
"""Searches log files for resident ID numbers (GB 11643, checksum-valid, with a real birth
date) and mainland mobile numbers in clear. Prints where (with the value masked) and exits 1
when any is found; exits 2 when a file is missing or empty, so a run that logged nothing
cannot pass for a clean one.

    tools/scan_pii.py FILE...

Matches must stand alone (no letter or digit on either side), so hex hashes, UUIDs and
millisecond timestamps are not mistaken for numbers.
"""

import datetime
import re
import sys

WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CHECK = "10X98765432"
ID_RE = re.compile(r"(?<![0-9A-Za-z])([1-9][0-9]{16}[0-9Xx])(?![0-9A-Za-z])")
PHONE_RE = re.compile(r"(?<![0-9A-Za-z])(?:\+?86)?(1[3-9][0-9]{9})(?![0-9A-Za-z])")


def is_id_number(s: str) -> bool:
    s = s.upper()
    if CHECK[sum(int(c) * w for c, w in zip(s[:17], WEIGHTS)) % 11] != s[17]:
        return False
    try:
        d = datetime.date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return False
    return d.year >= 1880


def mask(s: str) -> str:
    return s[:3] + "*" * (len(s) - 7) + s[-4:]


def main(paths):
    found = 0
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.readlines()
        except OSError as e:
            print(f"scan_pii: cannot read {path}: {e}", file=sys.stderr)
            return 2
        if not lines:
            print(f"scan_pii: {path} is empty: nothing was logged", file=sys.stderr)
            return 2
        for no, line in enumerate(lines, 1):
            hits = [("ID number", m) for m in ID_RE.findall(line) if is_id_number(m)]
            hits += [("phone", m) for m in PHONE_RE.findall(line)]
            for kind, value in hits:
                found += 1
                if found <= 20:
                    print(f"{path}:{no}: a {kind} in clear ({mask(value)})")
        print(f"scan_pii: {path}: {len(lines)} lines searched")
    if found:
        print(f"scan_pii: {found} ID number(s) or phone(s) in clear", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1:]))
