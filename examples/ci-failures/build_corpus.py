"""Build the CI-failure training corpus: seeded synthetic logs from the family catalogue plus real DEV-split logs.

Every log goes through `redact` then `distill` (one place: `excerpt_of`), so `input` is exactly what the analyzer sees
at run time; `output` is the 3-line answer. Usage:
    python examples/ci-failures/build_corpus.py [--shared PATH] [--n-synthetic N] [--seed S] [--budget 1024] --out DIR
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # `families` and `real_cases` live next to this script, not in the package

import families  # noqa: E402
from families import FAMILIES, NO_FAILURE, render  # noqa: E402
from real_cases import (  # noqa: E402
    bugswarm_answer,
    bugswarm_dev,
    logchunks_answer,
    logchunks_dev,
    read_log,
    write_hashed_test_split,
)
from rich.console import Console  # noqa: E402
from rich.progress import track  # noqa: E402
from rich.table import Table  # noqa: E402
from tunesmith.data.export import write_jsonl  # noqa: E402
from tunesmith.logs.categories import BY_ID, format_answer  # noqa: E402
from tunesmith.logs.distill import default_counter, distill  # noqa: E402
from tunesmith.logs.redact import redact  # noqa: E402

DEFAULT_SHARED = HERE.parents[2] / "shared" / "data" / "ci-logs"
NO_FAILURE_SHARE = 0.05  # logs without a failure, so the model learns not to invent a cause
EVAL_SHARE = 0.15  # of each category's examples, by whole groups
SMALL_MAX_TOKENS = 200  # inputs of the quick-demo file stay short
SEED_EXAMPLE = {  # the project's original example, in the 3-line format
    "input": "Build failed: ModuleNotFoundError: No module named 'pandas'",
    "output": format_answer("dependency", "The pandas dependency is missing.",
                            "Add pandas to requirements.txt and reinstall dependencies."),
    "category": "dependency",
    "meta": {"source": "seed:readme", "split": "dev"},
}

console = Console(stderr=True)


def excerpt_of(text: str, budget: int, count, pack_repeats: bool = True) -> tuple[str, int]:
    """The one place a raw log becomes model input: secrets out first, then the failure excerpt within `budget`.
    The committed corpus (and so the shipped adapter) was built with every repeated line kept (`--keep-repeats`); the
    analyzer packs repeats since session 5, so a rebuild for the next adapter should pack them too (the default)."""
    ex = distill(redact(text), budget=budget, count_tokens=count, pack_repeats=pack_repeats)
    return ex.text, ex.n_tokens


def pick_family(rng: random.Random) -> str:
    """5% no-failure logs; otherwise a category weighted by sqrt(#families), then a family of it uniformly, so the
    thirteen-family dependency category does not drown the one- and two-family ones."""
    if rng.random() < NO_FAILURE_SHARE:
        return NO_FAILURE
    by_cat: dict[str, list[str]] = {}
    for name, fam in sorted(FAMILIES.items()):
        by_cat.setdefault(fam.category, []).append(name)
    cats = sorted(by_cat)
    cat = rng.choices(cats, weights=[len(by_cat[c]) ** 0.5 for c in cats])[0]
    return rng.choice(by_cat[cat])


def synthetic(n: int, seed: int, budget: int, count, stats: Counter, pack_repeats: bool = True) -> list[dict]:
    out = []
    for i in track(range(n), description="synthetic logs", console=console):
        rng = random.Random(f"{seed}:synthetic:{i}")  # one RNG per example: any example can be rebuilt alone
        name = pick_family(rng)
        s = render(name, rng)
        text, n_tok = excerpt_of(s.log, budget, count, pack_repeats)
        if s.secret:
            stats["planted secrets"] += 1
            stats["planted secrets left in input"] += s.secret in text
        group = f"{name}:{i}" if name == NO_FAILURE else f"{name}:{s.variant}"
        out.append({"input": text, "output": s.answer, "category": s.category,
                    "meta": {"source": f"synthetic:{name}", "split": "dev", "variant": s.variant, "ci": s.ci,
                             "group": group, "tokens": n_tok, "planted_secret": bool(s.secret)}})
    return out


def real(shared: Path, budget: int, count, skipped: Counter, pack_repeats: bool = True) -> list[dict]:
    cases = list(bugswarm_dev(shared, skipped)) + list(logchunks_dev(shared, skipped))
    out = []
    for case in track(cases, description="real dev logs", console=console):
        try:
            raw = read_log(case.log_path)
        except OSError as e:
            raise SystemExit(f"{case.log_path}: cannot read log of {case.source} ({e})") from e
        text, n_tok = excerpt_of(raw, budget, count, pack_repeats)
        lines = text.splitlines()
        if case.category is not None:  # BugSwarm: category from the label, evidence from the excerpt
            ans = bugswarm_answer(case.category, lines)
            if ans is None:
                skipped["bugswarm: no evidence line in the excerpt"] += 1
                continue
            cat, (root, fix) = case.category, ans
        else:
            res = logchunks_answer(case, lines)
            if isinstance(res, str):
                skipped[res] += 1
                continue
            cat, root, fix = res
        out.append({"input": text, "output": format_answer(cat, root, fix), "category": cat,
                    "meta": {"source": case.source, "split": "dev", "group": case.source, "tokens": n_tok}})
    return out


def _rank(group: str, seed: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{group}".encode()).digest()[:8], "big")


def eval_groups(rows: list[dict], seed: int, share: float = EVAL_SHARE) -> set[str]:
    """Groups held out for eval: within each category, groups in seeded-hash order until `share` of its examples.

    A group (a family variant, a real case) is wholly train or wholly eval. Balancing per category keeps a category
    with few variants from landing entirely on one side; a category with a single group stays in train.
    """
    sizes: dict[str, Counter] = {}
    for r in rows:
        sizes.setdefault(r["category"], Counter())[r["meta"]["group"]] += 1
    held: set[str] = set()
    for cat, groups in sorted(sizes.items()):
        target, taken = share * sum(groups.values()), 0
        for g in sorted(groups, key=lambda g: _rank(g, seed)):
            if len(groups) > 1 and taken + groups[g] <= max(target, 1) * 1.5 and len(held & set(groups)) < len(groups) - 1:
                held.add(g)
                taken += groups[g]
            if taken >= target:
                break
    return held


def drop_leaks(train: list[dict], evals: list[dict], skipped: Counter) -> list[dict]:
    """Eval rows whose input also stands in train (identical logs of different cases) would leak: drop and count them."""
    seen = {r["input"] for r in train}
    kept = [r for r in evals if r["input"] not in seen]
    skipped["eval: input identical to a train input"] += len(evals) - len(kept)
    return kept


def small_examples(seed: int, count, n: int = 100) -> list[dict]:
    """Short, noise-free examples for the quick demo: one or two of every family, plus a few green runs."""
    rng = random.Random(f"{seed}:small")
    names = sorted(FAMILIES)
    order = names + rng.sample(names, len(names))
    out, i, too_long = [SEED_EXAMPLE], 0, 0
    while len(out) < n + 1 and i < 10 * n:
        name = NO_FAILURE if i % 20 == 19 else order[i % len(order)]
        s = render(name, random.Random(f"{seed}:small:{i}"), short=True)
        i += 1
        if count(s.log) >= SMALL_MAX_TOKENS:
            too_long += 1
            continue
        out.append({"input": s.log, "output": s.answer, "category": s.category,
                    "meta": {"source": f"synthetic:{name}", "split": "dev", "variant": s.variant}})
    if too_long:
        console.print(f"small set: {too_long} renders of {SMALL_MAX_TOKENS}+ tokens were replaced by other renders")
    return out


def summarise(train: list[dict], evals: list[dict], skipped: Counter, stats: Counter) -> dict:
    table = Table(title="CI-failure corpus")
    for col in ("category", "train", "eval"):
        table.add_column(col, justify="right" if col != "category" else "left")
    tc, ec = Counter(r["category"] for r in train), Counter(r["category"] for r in evals)
    for cid in BY_ID:
        table.add_row(cid, str(tc[cid]), str(ec[cid]))
    table.add_row("total", str(len(train)), str(len(evals)))
    console.print(table)
    kinds = Counter((r["meta"]["source"].split(":")[0], which) for which, rows in (("train", train), ("eval", evals)) for r in rows)
    console.print("by source: " + ", ".join(f"{k}/{w}={v}" for (k, w), v in sorted(kinds.items())))
    for reason, v in sorted(skipped.items()):
        console.print(f"skipped {v}: {reason}")
    for k, v in sorted(stats.items()):
        console.print(f"{k}: {v}")
    return {"train": dict(tc), "eval": dict(ec), "by_source": {f"{k}/{w}": v for (k, w), v in sorted(kinds.items())},
            "skipped": dict(skipped), "stats": dict(stats)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="folder of the real CI log data sets (dev splits are used)")
    ap.add_argument("--no-real", action="store_true", help="synthetic examples only (also when --shared is absent)")
    ap.add_argument("--n-synthetic", type=int, default=1500, help="number of synthetic logs")
    ap.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    ap.add_argument("--budget", type=int, default=1024, help="token budget of one distilled excerpt (SmolLM2 tokens)")
    ap.add_argument("--keep-repeats", action="store_true",
                    help="keep every copy of a repeated line, as the committed corpus (session 4) was built")
    ap.add_argument("--out", type=Path, required=True, help="output directory for train.jsonl, eval.jsonl, stats.json")
    ap.add_argument("--small-out", type=Path, default=None, help="also write the short quick-demo examples to this JSONL file")
    args = ap.parse_args(argv)
    pack = not args.keep_repeats

    count = default_counter()
    stats: Counter = Counter()
    skipped: Counter = Counter()
    rows = synthetic(args.n_synthetic, args.seed, args.budget, count, stats, pack)
    if not args.no_real:
        if not args.shared.exists():
            raise SystemExit(f"{args.shared}: real CI log data not found (pass --shared PATH, or --no-real for synthetic only)")
        rows += real(args.shared, args.budget, count, skipped, pack)
    over = [r for r in rows if r["meta"]["tokens"] > args.budget]
    if over:
        raise SystemExit(f"{len(over)} excerpts exceed the {args.budget}-token budget (first: {over[0]['meta']['source']})")
    held = eval_groups(rows, args.seed)
    train = [r for r in rows if r["meta"]["group"] not in held]
    evals = drop_leaks(train, [r for r in rows if r["meta"]["group"] in held], skipped)
    write_jsonl(args.out / "train.jsonl", train)
    write_jsonl(args.out / "eval.jsonl", evals)
    summary = summarise(train, evals, skipped, stats)
    summary["settings"] = {"n_synthetic": args.n_synthetic, "seed": args.seed, "budget": args.budget,
                           "real": not args.no_real, "families": len(families.FAMILIES), "pack_repeats": pack}
    tmp = args.out / ".stats.json.tmp"
    tmp.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    tmp.replace(args.out / "stats.json")
    if not args.no_real:
        console.print(f"wrote {write_hashed_test_split(args.shared, args.out)} (the leakage guard's test ids)")
    if args.small_out:
        n = write_jsonl(args.small_out, small_examples(args.seed, count))
        console.print(f"wrote {n} short examples to {args.small_out}")
    console.print(f"wrote {len(train)} train + {len(evals)} eval examples to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
