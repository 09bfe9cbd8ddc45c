#!/usr/bin/env python3
"""Validates NDJSON files of a jiayi FHIR export with an implementation that is not
jiayi's: the fhir.resources R4B models (pydantic; unknown fields and wrong types are
errors). Every line must parse as the resource its resourceType names, and every
`reference` ("Type/id") and every QuestionnaireResponse.questionnaire ("url|version")
must name a resource in the files given.

    tools/validate_fhir.py DIR        # every *.ndjson in DIR

Messages name the file, the line and the failing field, never the value (exports hold
personal data). Exit status 1 on any failure.
"""

import json
import pathlib
import sys
from collections import Counter

from fhir.resources.R4B import get_fhir_model_class

# The models check structure and types but not the codes of required bindings; these are
# the R4 value sets of the coded fields an export carries (hl7.org/fhir/R4, each
# element's "Binding: required").
REQUIRED_CODES = {
    ("Patient", "gender"): {"male", "female", "other", "unknown"},
    ("Location", "status"): {"active", "suspended", "inactive"},
    ("Location", "mode"): {"instance", "kind"},
    ("CareTeam", "status"): {"proposed", "active", "suspended", "inactive", "entered-in-error"},
    ("CarePlan", "status"): {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"},
    ("CarePlan", "intent"): {"proposal", "plan", "order", "option"},
    ("CarePlan", "activity.detail.status"): {
        "not-started", "scheduled", "in-progress", "on-hold", "completed", "cancelled", "stopped", "unknown",
        "entered-in-error"},
    ("Encounter", "status"): {
        "planned", "arrived", "triaged", "in-progress", "onleave", "finished", "cancelled", "entered-in-error",
        "unknown"},
    ("Observation", "status"): {
        "registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"},
    ("Questionnaire", "status"): {"draft", "active", "retired", "unknown"},
    ("Questionnaire", "item.type"): {
        "group", "display", "boolean", "decimal", "integer", "date", "dateTime", "time", "string", "text", "url",
        "choice", "open-choice", "attachment", "reference", "quantity"},
    ("QuestionnaireResponse", "status"): {"in-progress", "completed", "amended", "entered-in-error", "stopped"},
    ("Bundle", "type"): {
        "document", "message", "transaction", "transaction-response", "batch", "batch-response", "history",
        "searchset", "collection"},
    ("Bundle", "entry.request.method"): {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"},
    ("Address", "use"): {"home", "work", "temp", "old", "billing"},
}


def values_at(doc, path):
    """Every value at a dotted path, through lists."""
    items = [doc]
    for key in path.split("."):
        nxt = []
        for item in items:
            v = item.get(key) if isinstance(item, dict) else None
            if isinstance(v, list):
                nxt.extend(v)
            elif v is not None:
                nxt.append(v)
        items = nxt
    return items


def bad_codes(kind, doc):
    out = []
    for (k, path), allowed in REQUIRED_CODES.items():
        if k == kind:
            out.extend(f"{path} is not a code of its value set" for v in values_at(doc, path) if v not in allowed)
    if kind == "Patient":
        for v in values_at(doc, "address.use"):
            if v not in REQUIRED_CODES[("Address", "use")]:
                out.append("address.use is not a code of its value set")
    return out


def references(value, out):
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                out.append(item)
            else:
                references(item, out)
    elif isinstance(value, list):
        for item in value:
            references(item, out)


def main(directory):
    files = sorted(pathlib.Path(directory).glob("*.ndjson"))
    if not files:
        print(f"FAIL: no .ndjson files in {directory}")
        return 1
    failures = []
    counts = Counter()
    present = set()
    canonicals = set()
    wanted = []  # (file, line, what it names)
    for path in files:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            where = f"{path.name}:{n}"
            try:
                doc = json.loads(line)
            except ValueError:
                failures.append(f"{where}: not JSON")
                continue
            kind = doc.get("resourceType")
            try:
                model = get_fhir_model_class(kind)
            except Exception:
                failures.append(f"{where}: unknown resourceType")
                continue
            try:
                model.model_validate(doc)
            except Exception as e:  # pydantic.ValidationError
                errors = getattr(e, "errors", None)
                detail = (
                    "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['type']}" for x in errors(include_input=False))
                    if callable(errors)
                    else type(e).__name__
                )
                failures.append(f"{where}: {kind} invalid: {detail}")
                continue
            codes = bad_codes(kind, doc)
            if codes:
                failures.extend(f"{where}: {c}" for c in codes)
                continue
            counts[kind] += 1
            if kind != "Bundle":
                present.add(f"{kind}/{doc['id']}")
            if kind == "Questionnaire":
                canonicals.add(f"{doc['url']}|{doc['version']}")
            if kind == "Bundle":
                continue  # DELETE entries name what is gone, not what is here
            refs = []
            references(doc, refs)
            wanted.extend((where, r) for r in refs)
            if kind == "QuestionnaireResponse":
                wanted.append((where, "canonical " + doc["questionnaire"]))
    for where, ref in wanted:
        if ref.startswith("canonical "):
            if ref[len("canonical "):] not in canonicals:
                failures.append(f"{where}: names a questionnaire that is not exported")
        elif ref not in present:
            failures.append(f"{where}: references {ref.split('/')[0]} not in the export")
    for kind, n in sorted(counts.items()):
        print(f"  {kind:<24} {n:>8} valid")
    print(f"  references resolved      {len(wanted):>8}")
    if failures:
        print(f"FAIL: {len(failures)} problem(s)")
        for f in failures[:50]:
            print("  " + f)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
