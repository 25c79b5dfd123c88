"""A third task for `tunesmith compare`: a CI failure's root cause → the study's category and sub-category.

Reads the 375 hand-labelled jobs of "Why do GitHub Actions workflows fail?" from ../shared (never copied into the
repository) and writes train/eval/test JSONL; which job is in which split is fixed by the committed `split.json`.
Usage: python examples/gha-root-causes/build.py --source ../shared/data/ci-logs/gha_workflow_failure --out DIR
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter, defaultdict
from pathlib import Path

from tunesmith.data import dedup
from tunesmith.data.export import write_jsonl

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "ci-logs" / "gha_workflow_failure"
DEFAULT_SPLIT = HERE / "split.json"
SPLITS = ("train", "eval", "test")
# Shares of examples per split. The test part has to be large enough for compare's 95% interval to separate rows that
# differ by ~0.15 in score (about 100 examples); eval only steers training (eval loss, early stopping) and the lr check.
SHARES = {"train": 0.60, "eval": 0.12, "test": 0.28}
REQUIRED = ("job_id", "url", "project_name", "job_name", "step", "root cause", "sub-category-tag", "sub-category",
            "category")


class SourceError(ValueError):
    """Every problem found in the labels file, one `file:line: message` per line."""


def read_labels(path: Path) -> list[dict]:
    """The rows of labels.jsonl; all problems (bad JSON, missing or non-text keys, repeated job ids) raised at once."""
    rows, problems, seen = [], [], {}
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(f"{path}:{lineno}: malformed JSON: {e.msg} at column {e.colno}")
                continue
            if not isinstance(row, dict):
                problems.append(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
                continue
            missing = [k for k in REQUIRED if k not in row]
            if missing:
                problems.append(f"{path}:{lineno}: missing key(s) {', '.join(repr(k) for k in missing)}")
                continue
            bad = [k for k in REQUIRED if k != "job_id" and not (isinstance(row[k], str) and row[k].strip())]
            if bad:
                problems.append(f"{path}:{lineno}: key(s) {', '.join(repr(k) for k in bad)} must be non-empty text")
                continue
            if not isinstance(row["job_id"], int) or isinstance(row["job_id"], bool):
                problems.append(f"{path}:{lineno}: 'job_id' must be an integer, got {row['job_id']!r}")
                continue
            if row["job_id"] in seen:
                problems.append(f"{path}:{lineno}: job_id {row['job_id']} repeats line {seen[row['job_id']]}")
                continue
            seen[row["job_id"]] = lineno
            rows.append(row)
    if problems:
        raise SourceError("\n".join(problems))
    return rows


def _clean(text: str) -> str:
    return " ".join(text.split())


def prompt(row: dict) -> str:
    """What a user has after reading a failed job: where it failed and their one-line root cause."""
    return f"Job: {_clean(row['job_name'])}\nFailing step: {_clean(row['step'])}\nRoot cause: {_clean(row['root cause'])}"


def answer(row: dict) -> str:
    return f"Category: {_clean(row['category'])}\nSub-category: {_clean(row['sub-category'])}"


def record(row: dict, split: str) -> dict:
    return {"input": prompt(row), "output": answer(row), "category": _clean(row["category"]),
            "meta": {"source": row["url"], "job_id": row["job_id"], "project": row["project_name"],
                     "tag": row["sub-category-tag"], "split": split}}


def groups(rows: list[dict]) -> list[int]:
    """A group id per row: a project, joined with every project that has the same or a near-same input (dedup's
    MinHash, Jaccard >= 0.9), so no test input, and no project, is also in train."""
    prompts = [prompt(r) for r in rows]
    by_project: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        by_project[r["project_name"].casefold()].append(i)
    pairs = [(g[0], j) for g in by_project.values() for j in g[1:]]
    pairs += [(g[0], j) for g in dedup.exact_groups(prompts) for j in g[1:]]
    pairs += [(i, j) for i, j, _ in dedup.near_pairs(dedup.signatures(prompts))]
    return dedup.clusters(len(rows), pairs)


def new_split(rows: list[dict], seed: int) -> dict[str, list[int]]:
    """Whole groups to splits, stratified by sub-category: groups holding the rarest tags go first, each to the split
    furthest below its share of those tags (then of examples); ties broken by a seeded shuffle."""
    gid = groups(rows)
    members: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(gid):
        members[g].append(i)
    tag_total = Counter(r["sub-category-tag"] for r in rows)
    order = list(members)
    random.Random(seed).shuffle(order)
    order.sort(key=lambda g: min(tag_total[rows[i]["sub-category-tag"]] for i in members[g]))  # stable: keeps shuffle
    have = {s: Counter() for s in SPLITS}
    size = Counter()
    out: dict[str, list[int]] = {s: [] for s in SPLITS}
    for g in order:
        tags = Counter(rows[i]["sub-category-tag"] for i in members[g])

        def deficit(s: str) -> tuple[float, float]:
            by_tag = sum(n * (SHARES[s] * tag_total[t] - have[s][t]) / tag_total[t] for t, n in tags.items())
            return by_tag, SHARES[s] * len(rows) - size[s]

        best = max(SPLITS, key=deficit)
        have[best].update(tags)
        size[best] += len(members[g])
        out[best].extend(rows[i]["job_id"] for i in members[g])
    return {s: sorted(ids) for s, ids in out.items()}


def read_split(path: Path, rows: list[dict]) -> dict[str, list[int]]:
    """The committed split, checked against the data: every job in exactly one split, and no job the data lacks."""
    d = json.loads(path.read_text(encoding="utf-8"))
    ids = {s: d[s] for s in SPLITS}
    counts = Counter(j for s in SPLITS for j in ids[s])
    data = {r["job_id"] for r in rows}
    twice = sorted(j for j, c in counts.items() if c > 1)
    unknown = sorted(set(counts) - data)
    unsplit = sorted(data - set(counts))
    problems = ([f"job ids in more than one split: {twice[:10]}"] if twice else []) + \
               ([f"job ids not in the data: {unknown[:10]}"] if unknown else []) + \
               ([f"job ids of the data in no split: {unsplit[:10]} (the data changed: rebuild with --new-split)"]
                if unsplit else [])
    if problems:
        raise SourceError("\n".join(f"{path}: {p}" for p in problems))
    return ids


def write_split(path: Path, ids: dict[str, list[int]], seed: int) -> None:
    d = {"source": "gha_workflow_failure/labels.jsonl", "seed": seed,
         "grouping": "project, joined with projects that share a same or near-same input (build.py groups)",
         "shares": SHARES, **{s: ids[s] for s in SPLITS}}
    path.parent.mkdir(parents=True, exist_ok=True)
    # One key a line: a changed split shows in a diff as the lists that changed.
    body = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in d.items())
    path.write_text("{\n" + body + "\n}\n", encoding="utf-8")


def build(rows: list[dict], ids: dict[str, list[int]]) -> dict[str, list[dict]]:
    """Records per split, in the source's order."""
    where = {j: s for s in SPLITS for j in ids[s]}
    out: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for r in rows:
        out[where[r["job_id"]]].append(record(r, where[r["job_id"]]))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="the gha_workflow_failure folder")
    ap.add_argument("--out", type=Path, required=True, help="where train/eval/test.jsonl go (e.g. runs/gha-root-causes-data)")
    ap.add_argument("--split", type=Path, default=DEFAULT_SPLIT, help="job ids per split (default: the committed one)")
    ap.add_argument("--new-split", action="store_true", help="compute a fresh split with --seed and write it to --split")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    labels = args.source / "labels.jsonl"
    if not labels.is_file():
        print(f"error: {labels}: not found (the data set lives in ../shared/data/ci-logs)", file=sys.stderr)
        return 2
    try:
        rows = read_labels(labels)
        if args.new_split:
            write_split(args.split, new_split(rows, args.seed), args.seed)
        ids = read_split(args.split, rows)
    except SourceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    parts = build(rows, ids)
    for name, recs in parts.items():
        write_jsonl(args.out / f"{name}.jsonl", recs)
        print(f"{name}: {len(recs)} examples, {len({r['meta']['project'] for r in recs})} projects, "
              f"categories {dict(sorted(Counter(r['category'] for r in recs).items()))}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
