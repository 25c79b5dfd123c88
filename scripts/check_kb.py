#!/usr/bin/env python3
"""Check the built-in failure knowledge base (src/tunesmith/logs/kb/builtin.jsonl).

Checks: every line is a JSON object with all keys; ids unique; kinds exist in
examples/ci-failures/today/kinds.json; categories valid; every signature compiles
and matches (case-insensitively, per single line) at least one of the entry's own
examples; every {group|default} placeholder in cause/fix names a named group of one
of the entry's signatures; and a cross-check listing every entry whose signature
matches an example of an entry of ANOTHER kind.  Also checks a few plain phrasings
users paste.  Exit status 1 on any error (cross-kind collisions included, unless
listed in ALLOWED_OVERLAPS).

Usage: python scripts/check_kb.py [path/to/builtin.jsonl]
"""
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KB = ROOT / "src" / "tunesmith" / "logs" / "kb" / "builtin.jsonl"
KINDS = ROOT / "examples" / "ci-failures" / "today" / "kinds.json"
KEYS = ["id", "kind", "title", "category", "signatures", "cause", "fix", "examples", "source"]
CATEGORIES = {"test_failure", "build_error", "dependency", "lint", "type_check", "documentation",
              "license", "configuration", "container", "network", "auth", "resources", "infrastructure"}
PLACEHOLDER = re.compile(r"\{(\w+)\|([^{}]*)\}")
# (entry id, kind of the other entry's example) pairs that legitimately overlap.
ALLOWED_OVERLAPS = set()
# plain phrasings a user may paste: line -> (expected entry kind, {group: value})
PHRASINGS = {
    "ERROR: Docker build failed COPY requirements.txt not found": ("docker_copy_not_found", {"file": "requirements.txt"}),
    "ERROR: npm install failed package.json missing": ("npm_package_json_missing", {"file": "package.json"}),
}


def load(path):
    entries, errors = [], []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"line {n}: invalid JSON: {exc}")
            continue
        if not isinstance(obj, dict):
            errors.append(f"line {n}: not an object")
            continue
        missing = [k for k in KEYS if k not in obj]
        if missing:
            errors.append(f"line {n}: missing keys {missing}")
            continue
        obj["_line"] = n
        entries.append(obj)
    return entries, errors


def main(argv):
    path = Path(argv[1]) if len(argv) > 1 else KB
    kinds = json.loads(KINDS.read_text())["kinds"]
    entries, errors = load(path)
    seen = {}
    compiled = {}
    for e in entries:
        eid = e["id"]
        where = f"{eid} (line {e['_line']})"
        if eid in seen:
            errors.append(f"{where}: duplicate id (also line {seen[eid]})")
        seen[eid] = e["_line"]
        if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", eid):
            errors.append(f"{where}: id is not short kebab-case")
        if e["kind"] not in kinds:
            errors.append(f"{where}: unknown kind {e['kind']!r}")
        if e["category"] not in CATEGORIES:
            errors.append(f"{where}: unknown category {e['category']!r}")
        for key in ("title", "cause", "fix", "source"):
            if not isinstance(e[key], str) or not e[key].strip():
                errors.append(f"{where}: {key} must be a non-empty string")
        if not str(e["source"]).startswith("http"):
            errors.append(f"{where}: source is not a URL")
        if not e["signatures"] or not e["examples"]:
            errors.append(f"{where}: needs at least one signature and one example")
        groups = set()
        pats = []
        for sig in e["signatures"]:
            try:
                rx = re.compile(sig, re.IGNORECASE)
            except re.error as exc:
                errors.append(f"{where}: signature {sig!r} does not compile: {exc}")
                continue
            pats.append(rx)
            groups |= set(rx.groupindex)
            if not any(rx.search(x) for x in e["examples"]):
                errors.append(f"{where}: signature {sig!r} matches none of its examples")
        compiled[eid] = pats
        for key in ("cause", "fix"):
            for name, _default in PLACEHOLDER.findall(e[key]):
                if name not in groups:
                    errors.append(f"{where}: {key} placeholder {{{name}|...}} names no group of its signatures")
            rest = PLACEHOLDER.sub("", e[key])
            if re.search(r"\{\w+\}", rest):
                errors.append(f"{where}: {key} has a placeholder without a default: {rest!r}")
    # cross-check: a signature of entry A matching an example of entry B of another kind
    collisions = []
    for a in entries:
        for b in entries:
            if a["kind"] == b["kind"]:
                continue
            for rx in compiled.get(a["id"], []):
                for x in b["examples"]:
                    if rx.search(x):
                        collisions.append((a, b, rx.pattern, x))
    for a, b, pat, x in collisions:
        tag = "allowed overlap" if (a["id"], b["kind"]) in ALLOWED_OVERLAPS else "COLLISION"
        msg = f"{tag}: {a['id']} [{a['kind']}] signature {pat!r} matches example of {b['id']} [{b['kind']}]: {x!r}"
        if tag == "COLLISION":
            errors.append(msg)
        else:
            print(msg)
    # plain phrasings
    for line, (kind, want) in PHRASINGS.items():
        hits = []
        for e in entries:
            for rx in compiled.get(e["id"], []):
                m = rx.search(line)
                if m:
                    hits.append((e, m))
                    break
        good = [(e, m) for e, m in hits if e["kind"] == kind and all(m.groupdict().get(k) == v for k, v in want.items())]
        if not good:
            errors.append(f"phrasing {line!r}: no {kind} entry matches with {want}; hits: {[e['id'] for e, _ in hits]}")
        wrong = [e["id"] for e, _ in hits if e["kind"] != kind]
        if wrong:
            errors.append(f"phrasing {line!r}: also matched by other kinds: {wrong}")
    # summary
    per_kind = {}
    for e in entries:
        per_kind[e["kind"]] = per_kind.get(e["kind"], 0) + 1
    uncovered = sorted(set(kinds) - set(per_kind))
    print(f"{len(entries)} entries, {len(per_kind)}/{len(kinds)} kinds covered")
    if uncovered:
        print("kinds without entries:", ", ".join(uncovered))
    for err in errors:
        print("ERROR:", err)
    print(f"{len(errors)} error(s), {len(collisions)} cross-kind match(es)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
