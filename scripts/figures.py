"""Every figure in the READMEs, regenerated from the committed result JSON it was measured into.

A README holds generated blocks between `<!-- figures:NAME -->` and `<!-- /figures:NAME -->`; `BLOCKS` maps each NAME
to a function that reads named JSON files and returns the block's Markdown. To add one, write the function and add
its name to `BLOCKS`; then put the two markers where it goes and run the script.

    python scripts/figures.py            # rewrite every block (each file atomically)
    python scripts/figures.py --check    # exit 1, naming each block that differs from what its JSON gives
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The files whose blocks are generated; a glob per entry, relative to the repository root.
DOCS = ("README.md", "examples/*/README.md", "benchmarks/README.md", "docs/decisions.md")
RESULTS = "benchmarks/results"
ADAPTER = "src/tunesmith/logs/adapter"

BLOCK = re.compile(r"(<!-- figures:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /figures:(?P=name) -->)", re.S)


# ---- reading results and writing numbers --------------------------------------------------------------------------

def load(root: Path, rel: str):
    """A committed JSON (or JSONL: a list of records) under the repository root."""
    text = (root / rel).read_text(encoding="utf-8")
    if rel.endswith(".jsonl"):
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)


def f2(x) -> str:
    return "–" if x is None else f"{x:.2f}"


def f3(x) -> str:
    return "–" if x is None else f"{x:.3f}"


def n(x) -> str:
    """An integer with thousands separators: 17,798."""
    return f"{round(x):,}"


def times(x) -> str:
    return f"{x:.2f}×"


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def source(*rels: str) -> str:
    return "Source: " + ", ".join(f"`{r}`" for r in rels) + "."


# ---- the CI analyzer ----------------------------------------------------------------------------------------------

def _accuracy(root: Path, name: str, model: str) -> dict:
    """One analyzer's scores in an `analyzer_accuracy*.json`; `novel` is recomputed from the rows and the similarities
    the file holds (cases whose nearest training input has TF-IDF cosine < 0.9), so older files without it score too."""
    d = load(root, f"{RESULTS}/{name}.json")
    m = d["models"][model]
    sim = d.get("nearest_training_similarity") or {}
    near = float(d["args"].get("near", 0.9))
    novel = [r for r in m["rows"] if r["gold"] != "unknown" and sim.get(r["id"], 0.0) < near] if sim else []
    return {"known": m["known_gold"], "all": m["all"], "novel_n": len(novel),
            "novel_acc": sum(r["pred"] == r["gold"] for r in novel) / len(novel) if novel else None,
            "answers": model != "prior", "file": f"{RESULTS}/{name}.json"}


def _accuracy_row(label: str, excerpts: str, s: dict) -> list:
    known, every = s["known"], s["all"]
    novel = f"{f3(s['novel_acc'])} ({s['novel_n']})" if s["novel_acc"] is not None else "–"
    answer = [f3(every["format_valid"]), f3(every["stopped"])] if s["answers"] else ["–", "–"]
    return [label, excerpts, f3(known["accuracy"]), f3(known["macro_f1"]), novel, *answer, f"`{Path(s['file']).name}`"]


ACC_HEADER = ["analyzer", "excerpts", "accuracy", "macro F1", "accuracy, no near-copy in training (n)", "format valid",
              "stopped by itself", "result"]
CURRENT = "current distiller"
KEPT = "older: every repeat kept"


def analyzer_test(root: Path) -> str:
    """BugSwarm test: the shipped analyzer now, and the model-alone and zero-shot comparison on the older excerpts."""
    now = _accuracy(root, "analyzer_accuracy_test_kb", "finetuned+prior")
    rows = [
        _accuracy_row("**shipped: knowledge base, then fine-tuned + refitted category prior**", CURRENT, now),
        _accuracy_row("before the knowledge base: fine-tuned + the first category prior", CURRENT,
                      _accuracy(root, "analyzer_accuracy_test_redact_ids", "finetuned+prior")),
        _accuracy_row("the first category prior alone (no answer text)", CURRENT,
                      _accuracy(root, "analyzer_accuracy_test_redact_ids", "prior")),
        _accuracy_row("fine-tuned + category prior", KEPT, _accuracy(root, "analyzer_accuracy_test_prior", "finetuned+prior")),
        _accuracy_row("fine-tuned alone (`--no-prior`)", KEPT, _accuracy(root, "analyzer_accuracy_test_prior", "finetuned")),
        _accuracy_row("base model, zero-shot", KEPT, _accuracy(root, "analyzer_accuracy_test_prior", "base")),
    ]
    k, a = now["known"]["n"], now["all"]["n"]
    return (f"BugSwarm **test** split, seeded sample of {a} logs ({k} with a known category; accuracy and F1 over those, "
            f"format and stopping over all {a}). Compare rows only within one kind of excerpt: the last three were "
            "measured on the excerpts of an older distiller.\n\n" + table(ACC_HEADER, rows))


def analyzer_dev(root: Path) -> str:
    """The 107 held-out BugSwarm dev logs (the corpus's eval split): where the prior and its weight were chosen."""
    rows = [
        _accuracy_row("fine-tuned + category prior", "current distiller, before the redaction change",
                      _accuracy(root, "analyzer_accuracy_dev_heldout_first_block", "finetuned+prior")),
        _accuracy_row("category prior alone", "the same",
                      _accuracy(root, "analyzer_accuracy_dev_heldout_first_block", "prior")),
        _accuracy_row("fine-tuned + category prior", "repeats packed, no whole first block",
                      _accuracy(root, "analyzer_accuracy_dev_heldout_pack_repeats", "finetuned+prior")),
        _accuracy_row("fine-tuned + category prior", KEPT,
                      _accuracy(root, "analyzer_accuracy_dev_heldout_prior", "finetuned+prior")),
        _accuracy_row("fine-tuned alone", KEPT, _accuracy(root, "analyzer_accuracy_dev_heldout_prior", "finetuned")),
        _accuracy_row("category prior alone", KEPT, _accuracy(root, "analyzer_accuracy_dev_heldout_prior_alone", "prior")),
    ]
    return table(ACC_HEADER, rows)


def analyzer_test_per_category(root: Path) -> str:
    d = load(root, f"{RESULTS}/analyzer_accuracy_test_redact_ids.json")["models"]
    ours = load(root, f"{RESULTS}/analyzer_accuracy_test_kb.json")["models"]["finetuned+prior"]["known_gold"]["per_category"]
    prior = d["prior"]["known_gold"]["per_category"]

    def prf(c: dict) -> str:
        return f"{f2(c['precision'])} / {f2(c['recall'])} / {f2(c['f1'])}"

    rows = [[f"{cat} ({c['support']})", prf(c), prf(prior[cat])]
            for cat, c in sorted(ours.items(), key=lambda kv: -kv[1]["support"])]
    return (table(["category (support)", "shipped analyzer P / R / F1", "the first prior alone P / R / F1"], rows)
            + "\n\n" + source(f"{RESULTS}/analyzer_accuracy_test_kb.json", f"{RESULTS}/analyzer_accuracy_test_redact_ids.json"))


def adapter_run(root: Path) -> str:
    """The shipped adapter's run, from the files bundled with it."""
    metrics = load(root, f"{ADAPTER}/run-metrics.jsonl")
    cfg = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in
           (root / f"{ADAPTER}/run-config.yaml").read_text().splitlines()) if v.strip()}
    meta = load(root, f"{ADAPTER}/tunesmith.json")
    evals = [m for m in metrics if "eval_loss" in m]
    speed = statistics.mean(m["tokens_per_s"] for m in metrics[1:])
    prior_mb = sum((root / ADAPTER / f).stat().st_size for f in ("category_prior.json", "category_prior.safetensors")) / 1e6
    curve = ", ".join(f"{f3(m['eval_loss'])} at step {m['step']}" for m in evals)
    return (f"The shipped adapter: LoRA r={cfg['lora_r']} on SmolLM2-135M, {metrics[-1]['step']} optimizer steps "
            f"(batch {cfg['batch_size']} × accumulation {cfg['grad_accum']}) over a seeded sample of "
            f"{cfg['max_train_examples']} training examples, {n(speed)} real tokens/s on average ({meta['precision']}); "
            f"eval loss on {cfg['max_eval_examples']} held-out examples {curve}. Its category prior is "
            f"{prior_mb:.1f} MB. Source: `{ADAPTER}/run-metrics.jsonl`, `run-config.yaml`, `tunesmith.json`.")


def corpus_stats(root: Path) -> str:
    s = load(root, "examples/ci-failures/data/stats.json")
    cats = list(s["train"])
    half = (len(cats) + 1) // 2
    rows = []
    for i in range(half):
        left = [cats[i], s["train"][cats[i]], s["eval"][cats[i]]]
        j = i + half
        right = [cats[j], s["train"][cats[j]], s["eval"][cats[j]]] if j < len(cats) else ["", "", ""]
        rows.append(left + [""] + right)
    rows.append(["**total**", f"**{n(sum(s['train'].values()))}**", f"**{n(sum(s['eval'].values()))}**", "", "", "", ""])
    src = s["by_source"]
    by_source = "; ".join(f"{name} {n(src[name + '/train'])} train / {n(src[name + '/eval'])} eval"
                          for name in ("synthetic", "bugswarm", "logchunks"))
    real = src["bugswarm/train"] + src["logchunks/train"]
    by_source += f" (real dev logs {100 * real / sum(s['train'].values()):.0f}% of train)"
    skipped = "; ".join(f"{why} {n(k)}" for why, k in s["skipped"].items())
    tokens = [json.loads(line)["meta"]["tokens"] for line in
              (root / "examples/ci-failures/data/train.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    planted = s["stats"]
    return (table(["category", "train", "eval", "", "category", "train", "eval"], rows) + "\n\n"
            f"- By source: {by_source}.\n- Skipped: {skipped}.\n"
            f"- Excerpts (train): median {n(statistics.median(tokens))} tokens, longest {n(max(tokens))} "
            f"(budget {n(s['settings']['budget'])}).\n"
            f"- Planted fake secrets: {planted['planted secrets']}; left in the input: "
            f"{planted['planted secrets left in input']}.\n\n" + source("examples/ci-failures/data/stats.json"))


def prior_weight(root: Path) -> str:
    acc = load(root, f"{RESULTS}/prior_weight.json")["accuracy"]
    rows = [[w, f2(a["all"]), f2(a["bugswarm"]), f2(a["logchunks"]), f2(a["synthetic"])] for w, a in acc.items()]
    return (table(["prior weight", "all", "BugSwarm", "LogChunks", "synthetic"], rows) + "\n\n"
            + source(f"{RESULTS}/prior_weight.json"))


def _compare(root: Path, rel: str, fields: list[str]) -> str:
    d = load(root, rel)
    rows = []
    best = max(d["rows"], key=lambda r: r["score"])["key"]
    for r in d["rows"]:
        score = f"**{f2(r['score'])}**" if r["key"] == best else f2(r["score"])
        rows.append([r["name"], score, *(f2(r.get(f"field:{f}")) for f in fields), f2(r["format_valid"]),
                     f2(r["rouge_l"]), f2(r["chrf"]), f2(r["semantic"]), f2(r.get("stopped")),
                     r.get("max_tokens_hits", "–")])
    header = ["approach", "score", *fields, "format", "ROUGE-L", "chrF", "semantic", "stopped", "hit max tokens"]
    fg, curve = d["forgetting"], [c for c in d["curve"] if "eval_loss" in c]
    best_note = d["advice"]["notes"][0]["message"]
    return (f"{d['dataset']['n_eval']} held-out examples; the run compared: `{d['settings']['run']}` "
            f"({curve[-1]['step']} steps, eval loss {f3(curve[0]['eval_loss'])} → {f3(curve[-1]['eval_loss'])}, "
            f"{n(d['dataset']['n_train'])} training examples).\n\n" + table(header, rows) + "\n\n"
            f"Forgetting: general-text perplexity {f2(fg['base_ppl'])} (base) → {f2(fg['tuned_ppl'])} (tuned), "
            f"{fg['increase_pct']:+.1f}% over {n(fg['n_tokens'])} tokens. Advice printed: \"{d['advice']['verdict']}\". "
            f"{best_note}\n\n" + source(rel))


_RECIPES = [("CI failure → Category / Root Cause / Fix", "examples/ci-failures/compare/report.json"),
            ("support ticket → JSON (template renders)", "examples/tickets/compare/report.json"),
            ("GitHub Actions root cause → category / sub-category (hand labels), lr 2e-4 (the default before)",
             "examples/gha-root-causes/compare/report.json"),
            ("the same, lr 4e-4 (the LoRA default now, chosen on the eval split)",
             "examples/gha-root-causes/compare-lr4e-4/report.json")]


def recipe_verdicts(root: Path) -> str:
    """One row per shipped recipe: what compare measured and advised, for README.md."""
    rows = []
    for task, rel in _RECIPES:
        d = load(root, rel)
        by_key = {r["key"]: r for r in d["rows"]}
        tuned = by_key.get("tuned")
        prompting = max((r for r in d["rows"] if not r["key"].startswith("tuned")), key=lambda r: r["score"])
        status = d["advice"].get("premises", {}).get("training", {}).get("status", "not checked")
        rows.append([task, n(d["dataset"]["n_eval"]), f2(tuned["score"]) if tuned else "–",
                     f"{f2(prompting['score'])} ({prompting['name']})", f"\"{d['advice']['verdict']}\"", status])
    notes = " ".join(f"`{rel}`" for _, rel in _RECIPES)
    return (table(["task", "held-out", "fine-tuned", "best without training", "advice", "fine-tune's training"], rows)
            + f"\n\nSources: {notes}.")


def compare_ci(root: Path) -> str:
    return _compare(root, "examples/ci-failures/compare/report.json", ["category", "root cause", "fix"])


def compare_tickets(root: Path) -> str:
    return _compare(root, "examples/tickets/compare/report.json", ["category", "priority", "summary"])


def compare_gha(root: Path, rel: str = "examples/gha-root-causes/compare/report.json") -> str:
    d = load(root, rel)
    table_part, src = _compare(root, rel, ["category", "sub-category"]).rsplit("\n\n", 1)
    # Every note but the first (already in _compare's text) and the stopping ones (the table's last two columns).
    more = [n["message"] for n in d["advice"]["notes"][1:] if n["rule"] != "stopping"]
    return "\n\n".join([table_part, *more, src])


def compare_gha_lr(root: Path) -> str:
    """The same comparison on the run trained with the learning rate the eval split chose (lr_check.json)."""
    return compare_gha(root, "examples/gha-root-causes/compare-lr4e-4/report.json")


def hparam_table(root: Path, rel: str) -> str:
    """Runs of one recipe that differ only in lr or LoRA rank (benchmarks/hparam_check.py), judged on the eval split."""
    d = load(root, rel)
    runs = d["runs"]
    fields = list(runs[0]["eval_split"]["fields"])

    def label(r: dict) -> str:
        return f"lr {r['lr']:g}, rank {r['lora_r']}"

    rows = []
    for r in runs:
        e, s = r["eval_loss"], r["eval_split"]
        lr = f"{r['lr']:g}" + (" (reference)" if r["run"] == d["reference"] else "")
        rows.append([lr, f"{r['lora_r']}, alpha {r['lora_alpha']:g}", r["steps"],
                     f"{f3(e['first'])} → {f3(e['best'])} (step {e['best_step']})", r["model_step"], f2(s["score"]),
                     *(f2(s["fields"][f]) for f in fields)])
    ref = next(r for r in runs if r["run"] == d["reference"])
    by_loss = min(runs, key=lambda r: r["eval_loss"]["best"])
    by_score = max(runs, key=lambda r: (r["eval_split"]["score"], -r["eval_loss"]["best"]))
    n_eval = ref["eval_split"]["n"]
    # A score is the mean over fields and examples: a difference of x is x * n * fields answers.
    answers = round((by_score["eval_split"]["score"] - ref["eval_split"]["score"]) * n_eval * len(fields))
    return (table(["lr", "rank", "steps", "eval loss (best at)", "model/ step", "eval score", *fields], rows)
            + f"\n\nRead against {label(ref)}. Lowest eval loss: {label(by_loss)} ({f3(by_loss['eval_loss']['best'])}, "
            f"reference {f3(ref['eval_loss']['best'])}). Best eval-split score: {label(by_score)} "
            f"({f2(by_score['eval_split']['score'])}, reference {f2(ref['eval_split']['score'])}: {answers} more of "
            f"{n_eval * len(fields)} field answers right on {n_eval} eval examples).\n\n" + source(rel))


def lr_check_gha(root: Path) -> str:
    return hparam_table(root, "examples/gha-root-causes/lr_check.json")


def rank_check_gha(root: Path) -> str:
    return hparam_table(root, "examples/gha-root-causes/rank_check.json")


def hparam_check_tickets(root: Path) -> str:
    return hparam_table(root, "examples/tickets/hparam_check.json")


# ---- log distillation ---------------------------------------------------------------------------------------------

def _recall(root: Path, name: str) -> dict:
    return load(root, f"{RESULTS}/{name}.json")


def _recall_rows(d: dict, label: str) -> list[list]:
    lc, cd = d["logchunks"], d["cidiff"]
    out = []
    for method, key in (("distill", "distill"), ("last lines", "last_lines"), ("ceiling: every candidate line", "ceiling")):
        if key not in lc:
            continue
        out.append([label, f"{n(d['budget'])}", method, f3(lc[key]["full_recall_fitting"]),
                    f3(lc[key]["mean_line_recall"]), f3(cd[key]["mean_line_recall"]), f3(cd[key]["full_recall_fitting"])])
    return out


def distill_recall(root: Path) -> str:
    names = {"test": "distill_recall_test_redact_ids", "dev": "distill_recall_dev_redact_ids",
             "test, 4,096": "distill_recall_test_budget4096", "dev, 4,096": "distill_recall_dev_budget4096"}
    rows = []
    for label, name in names.items():
        d = _recall(root, name)
        split = f"{d['split']} ({d['logchunks']['n_fitting']} of {d['logchunks']['n']} chunks fit)"
        rows += _recall_rows(d, split)
    return (table(["split (LogChunks)", "budget", "method", "LogChunks full recall (fitting chunks)",
                   "LogChunks mean line recall", "CiDiff error-line recall", "CiDiff cases with all error lines"], rows) + "\n\n"
            + source(*(f"{RESULTS}/{name}.json" for name in names.values())))


def recall_summary(root: Path) -> str:
    """The distiller's test figures as one sentence, for README.md."""
    d, wide = _recall(root, "distill_recall_test_redact_ids"), _recall(root, "distill_recall_test_budget4096")
    lc, cd, lw = d["logchunks"], d["cidiff"], wide["logchunks"]
    return (f"On unseen LogChunks test logs the whole annotated failure chunk is in the {n(d['budget'])}-token excerpt "
            f"for {f3(lc['distill']['full_recall_fitting'])} of them, against {f3(lc['last_lines']['full_recall_fitting'])} for the "
            f"log's last {n(d['budget'])} tokens (CiDiff error lines {f3(cd['distill']['mean_line_recall'])} vs "
            f"{f3(cd['last_lines']['mean_line_recall'])}); no excerpt could reach more than "
            f"{f3(lc['ceiling']['full_recall_fitting'])} (labels not in their log). With `--budget {wide['budget']}` it is "
            f"{f3(lw['distill']['full_recall_fitting'])}, mean line recall {f3(lw['distill']['mean_line_recall'])}. "
            + source(f"{RESULTS}/distill_recall_test_redact_ids.json", f"{RESULTS}/distill_recall_test_budget4096.json"))


# ---- speed ----------------------------------------------------------------------------------------------------------

def _latency(root: Path) -> dict:
    d = load(root, f"{RESULTS}/analyze_latency.json")
    return {(r["lines"], r["variant"]): r for r in d["results"]}


def merge_speedup(root: Path) -> str:
    lat = _latency(root)
    merged, unmerged = lat[(20000, "fp32")], lat[(20000, "unmerged")]
    return (f"Merged, the shipped analyzer answers {times(unmerged['p50_s'] / merged['p50_s'])} faster: p50 "
            f"{f2(merged['p50_s'])} s against {f2(unmerged['p50_s'])} s unmerged on a 20k-line log, the same answers "
            f"(`{RESULTS}/analyze_latency.json`).")


def batch_generate(root: Path) -> str:
    d = load(root, f"{RESULTS}/batch_generate.json")
    b = d["best"]
    same = "same answers" if d["identical_answers"] else "answers differ"
    return (f"Batched this way, {d['args']['batch']} analyses take {b['row-wise prefill + static cache']:.1f} s against "
            f"{b['HF batched generate']:.1f} s for a plain batched `generate` and {b['one at a time']:.1f} s one at a "
            f"time, {same} (`{RESULTS}/batch_generate.json`).")


def _serve(root: Path) -> tuple[dict, dict, dict]:
    d = load(root, f"{RESULTS}/serve_load_analyzer.json")  # the shipped analyzer; serve_load.json is the base model
    rows = sorted(d["results"], key=lambda r: r["clients"])
    return d, rows[0], rows[-1]


def _trl(root: Path) -> tuple[dict, dict]:
    """The TRL comparison and, per variant, its median over rounds (the last round's record where the JSON predates
    the medians), with the precision and token count the rounds share."""
    d = load(root, f"{RESULTS}/train_vs_trl.json")
    runs = {r["variant"]: dict(r) for r in d["results"]}
    for v, med in d.get("summary", {}).get("median", {}).items():
        runs[v].update({k: x for k, x in med.items() if x is not None})
    return d, runs


def _trl_best(runs: dict) -> dict:
    return max((r for v, r in runs.items() if v.startswith("trl-best")), key=lambda r: r["tokens_per_s"])


def _model_name(run: str) -> str:
    return "the shipped analyzer" if run.rstrip("/").endswith("logs/adapter") or run in ("None", "") else \
        f"`{run}` (the base model, not the analyzer)"


def bench_summary(root: Path) -> str:
    """The harness's headline ratios as one sentence, for README.md."""
    _, runs = _trl(root)
    ours = runs["tunesmith"]
    trl = _trl_best(runs)
    lat = _latency(root)[(20000, "fp32")]
    d, one, many = _serve(root)
    return (f"LoRA training {times(ours['tokens_per_s'] / trl['tokens_per_s'])} the speed of TRL SFTTrainer's fastest "
            f"setting, {times(ours['peak_rss_mb'] / trl['peak_rss_mb'])} its peak RSS, eval loss "
            f"{100 * (ours['eval_loss'] / trl['eval_loss'] - 1):+.1f}%; analyze p50 {f2(lat['p50_s'])} s on a 20k-line "
            f"log; server throughput at {many['clients']} clients {times(many['throughput_rps'] / one['throughput_rps'])} "
            f"one client's, measured on {_model_name(d['args']['run'])}. Source: `{RESULTS}/train_vs_trl.json`, "
            f"`analyze_latency.json`, `serve_load_analyzer.json`.")


def harness_training(root: Path) -> str:
    d, runs = _trl(root)
    peak = d["matmul_peak_flops"]
    label = {"tunesmith": "**tunesmith** (defaults)", "trl-best-fp32": "TRL best, fp32", "trl-best-bf16": "TRL best, bf16",
             "trl-default": "TRL default"}
    task = any("task_exact" in r for r in runs.values())

    def spread(r, key, fmt):
        lo_hi = r.get("range", {}).get(key)
        return fmt.format(r[key]) + (f" ({fmt.format(lo_hi[0])}–{fmt.format(lo_hi[1])})" if lo_hi and r.get("rounds", 1) > 1
                                     else "")

    rows = [[label[v], r["precision"], str(r["steps"]), spread(r, "tokens_per_s", "{:.1f}"), f"{r['train_wall_s']:.0f}",
             spread(r, "peak_rss_mb", "{:.0f}"), spread(r, "eval_loss", "{:.4f}")]
            + ([f"{r['task_exact']:.3f}"] if task else [])
            + [f"{100 * r['mfu_vs_bf16_peak']:.1f}%", f"{100 * r['mfu_vs_best_peak']:.1f}%"] for v, r in runs.items()]
    a = d["args"]
    rounds = a.get("repeats", 1)
    return (f"`--data {a['data']} --n {a['n']} --epochs {a['epochs']} --max-seq-len {a['max_seq_len']}`: "
            f"{n(runs['tunesmith']['tokens'])} real tokens per run, {rounds} alternating round{'s' if rounds > 1 else ''} "
            f"per variant (median, with the range over rounds). Matmul peaks in the same run: fp32 "
            f"{peak['fp32'] / 1e9:.0f} GFLOP/s, bf16 {peak['bf16'] / 1e9:.0f} GFLOP/s.\n\n"
            + table(["variant", "precision", "steps", "tokens/s", "train wall s", "peak RSS MB", "eval loss"]
                    + (["task exact match"] if task else []) + ["MFU vs bf16 peak", "MFU vs best peak"], rows)
            + "\n\n" + source(f"{RESULTS}/train_vs_trl.json"))


def harness_targets(root: Path) -> str:
    d, runs = _trl(root)
    ours = runs["tunesmith"]
    trl = _trl_best(runs)
    speed, rss = ours["tokens_per_s"] / trl["tokens_per_s"], ours["peak_rss_mb"] / trl["peak_rss_mb"]
    loss = ours["eval_loss"] / trl["eval_loss"] - 1
    mfu = ours["mfu_vs_bf16_peak"]
    lat = _latency(root)
    p, u = lat[(20000, "fp32")], lat[(20000, "unmerged")]
    sd, one, many = _serve(root)
    serve = many["throughput_rps"] / one["throughput_rps"]
    yes = {True: "yes", False: "no"}
    rows = [
        ["training tokens/s ≥ 3× TRL's best", f"**{times(speed)}**", yes[speed >= 3]],
        ["eval loss within 2% of TRL's best", f"{100 * loss:+.1f}%", yes[abs(loss) <= 0.02]],
        ["peak RSS ≤ 0.6× TRL's best", f"**{times(rss)}**", yes[rss <= 0.6]],
        ["≥ 30% of the bf16 matmul peak", f"{100 * mfu:.0f}%", yes[mfu >= 0.30]],
        ["analyze p50 ≤ 1.0 s / p95 ≤ 2.5 s, 20k lines",
         f"p50 {f2(p['p50_s'])} s, p95 {f2(p['p95_s'])} s ({n(p['new_tokens_median'])} new tokens); "
         f"unmerged adapter p50 {f2(u['p50_s'])} s", yes[p["p50_s"] <= 1.0 and p["p95_s"] <= 2.5]],
        [f"server throughput at {many['clients']} clients ≥ 3× one client",
         f"{times(serve)} ({one['throughput_rps']:.3f} → {many['throughput_rps']:.3f} req/s), on "
         f"{_model_name(sd['args']['run'])}", yes[serve >= 3]],
    ]
    return table(["target", "measured", "met"], rows) + "\n\n" + source(
        f"{RESULTS}/train_vs_trl.json", f"{RESULTS}/analyze_latency.json", f"{RESULTS}/serve_load_analyzer.json")


def analyze_latency(root: Path) -> str:
    d = load(root, f"{RESULTS}/analyze_latency.json")
    rows = [[n(r["lines"]), r["variant"], f2(r["p50_s"]), f2(r["p95_s"]), f2(r["distil_p50_s"]),
             n(r["new_tokens_median"])] for r in d["results"]]
    return (f"{_model_name(d['args']['run'])[0].upper()}{_model_name(d['args']['run'])[1:]}, {d['args']['repeats']} "
            f"calls per size and variant, answer capped at {d['args']['max_new_tokens']} tokens; peak RSS "
            f"{n(d['peak_rss_mb'])} MB (both variants loaded).\n\n"
            + table(["log lines", "variant", "p50 s", "p95 s", "distil p50 s", "new tokens"], rows) + "\n\n"
            + source(f"{RESULTS}/analyze_latency.json"))


def cold_start(root: Path) -> str:
    """`tunesmith analyze` from the command to the answer, and where the time goes (benchmarks/cold_start.py)."""
    rel = "benchmarks/results/cold_start.json"
    d = load(root, rel)
    ph = d["phases"]
    rows = [[r["phase"], f2(r["s"])] for r in ph["phases"]]
    return (f"A {n(d['args']['lines'])}-line job log; {ph['prompt_tokens']:,} prompt tokens, {ph['new_tokens']}-token "
            f"answer. From the command to the answer: the first call ever {f2(d['first_s'])} s (converts the bundled "
            f"GGUF base and caches the merged analyzer), then median {f2(d['cold_p50_s'])} s over "
            f"{len(d['cold_s'])} fresh processes; with the merged-model cache off, alternating, "
            f"{f2(d['uncached_p50_s'])} s ({times(d['uncached_p50_s'] / d['cold_p50_s'])} slower).\n\n"
            + table(["phase (one fresh process)", "seconds"], rows) + "\n\n" + source(rel))


def llamacpp_engine(root: Path) -> str:
    """llama.cpp against the PyTorch path on the analyzer's prompt (benchmarks/llamacpp_speed.py)."""
    rel = "benchmarks/results/llamacpp_speed.json"
    d = load(root, rel)
    rows = [[r["engine"], r["weights"], f2(r["load_s"]) if "load_s" in r else "–", f2(r["prefill_s"]),
             f"{r['decode_ms_per_token']:.1f}", "yes" if r["same_answer"] else "no"] for r in d["rows"]]
    return (f"The analyzer's prompt for a {n(d['args']['lines'])}-line log ({n(d['prompt_tokens'])} tokens), greedy, "
            f"{d['args']['threads']} threads, llama-cpp-python {d['llama_cpp_python']}; median of {d['args']['repeats']}.\n\n"
            + table(["engine", "weights", "load s", "prefill s", "decode ms/token", "same answer as PyTorch"], rows)
            + "\n\n" + source(rel))


def latency_ceilings(root: Path) -> str:
    """What the model's own work leaves of the 5 s cold, 1.0 s warm and 3x server targets (measured phases)."""
    cs = load(root, "benchmarks/results/cold_start.json")
    ph = {r["phase"]: r["s"] for r in cs["phases"]["phases"]}
    prefill, analysis = ph["prefill (one forward pass)"], ph["analyze (prefill + decode + parse)"]
    fixed = ph["torch + transformers imports"] + ph["model load"]
    _, one, many = _serve(root)
    rows = [["cold start ≤ 5 s (20k-line log)", f"{f2(cs['cold_p50_s'])} s",
             f"torch + transformers imports {f2(ph['torch + transformers imports'])} s + model load "
             f"{f2(ph['model load'])} s + the analysis itself {f2(analysis)} s = {f2(fixed + analysis)} s"],
            ["warm analysis p50 ≤ 1.0 s", f"{f2(analysis)} s (prefill + decode + parse)",
             f"the prompt's prefill alone: {f2(prefill)} s ({n(cs['phases']['prompt_tokens'])} tokens, one forward pass)"],
            [f"server at {many['clients']} clients ≥ 3× one client",
             f"{times(many['throughput_rps'] / one['throughput_rps'])}",
             f"≤ {times(analysis / prefill)}: batching shares decoding, not the compute-bound prefill "
             f"((prefill + decode) / prefill = {f2(analysis)} / {f2(prefill)})"]]
    return table(["target", "measured", "floor with the answers kept (PyTorch fp32, this CPU)"], rows) + "\n\n" + source(
        "benchmarks/results/cold_start.json", "benchmarks/results/serve_load_analyzer.json")


def inference_levers(root: Path) -> str:
    """Prompt-lookup decoding and bf16 weights for the analyzer: speed and whether the answers stay the same."""
    pl = load(root, "benchmarks/results/prompt_lookup.json")["summary"]
    bq_all = load(root, "benchmarks/results/bf16_quality.json")
    bq = {r["variant"]: r for r in bq_all["results"]}
    lat = {r["variant"]: r for r in load(root, "benchmarks/results/analyze_latency_bf16.json")["results"]}
    fp, bf = bq["fp32"], bq["bf16 weights"]
    rows = [["prompt-lookup decoding (10 tokens), one log per call", f"{pl['n']} BugSwarm dev logs",
             f"median {f2(pl['median_plain_s'])} → {f2(pl['median_lookup_s'])} s ({times(pl['speedup_of_medians'])})",
             f"{pl['same_answers']}/{pl['n']} identical", "on (single logs)"],
            ["bf16 weights (this CPU has AMX), batches of 4", f"{len(bq_all['cases'])} BugSwarm dev logs",
             f"{f2(fp['seconds'])} → {f2(bf['seconds'])} s ({times(fp['seconds'] / bf['seconds'])})",
             f"category {f2(bf['same_category_as_fp32'])}, text {f2(bf['same_text_as_fp32'])} of answers as fp32; "
             f"accuracy {f2(fp['accuracy'])} → {f2(bf['accuracy'])}", "off (answers change)"],
            ["bf16 weights, one 20k-line log per call", "synthetic log",
             f"p50 {f2(lat['fp32']['p50_s'])} → {f2(lat['bf16']['p50_s'])} s "
             f"({times(lat['fp32']['p50_s'] / lat['bf16']['p50_s'])})", "–", "off"]]
    return (table(["lever", "measured on", "time", "answers", "default"], rows) + "\n\n"
            + source("benchmarks/results/prompt_lookup.json", "benchmarks/results/bf16_quality.json",
                     "benchmarks/results/analyze_latency_bf16.json"))


def serve_load(root: Path) -> str:
    """The server with the shipped analyzer at 1, 4 and 16 clients (the harness's serve_load.json served the base
    model until the script's default became the analyzer)."""
    d = load(root, f"{RESULTS}/serve_load_analyzer.json")
    a = d["args"]
    rows = [[r["clients"], f"{r['ok']}/{r['requests']}", f"{r['throughput_rps']:.3f}", f2(r["p50_s"]),
             f2(r["p95_s"]), times(r["speedup_vs_first"])] for r in d["results"]]
    return (f"Model: {_model_name(a['run'])}; {n(a['lines'])}-line logs, {a['max_new_tokens']}-token answers, "
            f"batches of up to {a['max_batch']}.\n\n"
            + table(["clients", "ok", "requests/s", "p50 s", "p95 s", "throughput vs 1 client"], rows) + "\n\n"
            + source(f"{RESULTS}/serve_load_analyzer.json"))


def levers(root: Path) -> str:
    d = load(root, f"{RESULTS}/levers.json")

    def setting(r: dict) -> str:  # the file's "(default)" tags are the defaults of its day, not today's
        return r["setting"].replace(" (default)", "")

    rows = []
    for r in d["results"]:
        if "seconds" in r:
            rows.append([r["lever"], setting(r), f"{r['seconds']:.1f} s"])
        else:
            rows.append([r["lever"], setting(r), f"{100 * r['pad_share']:.1f}% padding"])
    load_avg = f"{d['load_average_before'][0]:.1f} → {d['load_average_after'][0]:.1f}"
    return (f"Batch {d['args']['batch_size']} × {d['args']['max_seq_len']} tokens, SmolLM2-135M; 1-min load average "
            f"{load_avg} on 2 cores, so read the ratios, not the seconds.\n\n"
            + table(["lever", "setting", "measured"], rows) + "\n\n" + source(f"{RESULTS}/levers.json"))


def forward_passes(root: Path) -> str:
    d = load(root, f"{RESULTS}/batching_memory_smollm2-135m.json")
    rows = [[r["setting"], f"{r['real_tokens_per_s_median']:.0f}", times(r["ratio"]), n(r["peak_rss_mb_median"])]
            for r in d["results"]]
    a = d["args"]
    return (f"{a['steps']} steps × batch {a['batch_size']} × {a['max_seq_len']} tokens, {a['repeats']} rounds "
            "(medians).\n\n" + table(["setting", "real tokens/s", "speed vs one pass", "peak RSS MB"], rows) + "\n\n"
            + source(f"{RESULTS}/batching_memory_smollm2-135m.json"))


def matmul_peak(root: Path) -> str:
    """The matmul peaks `mfu.py` measured, with the machine its provenance names."""
    d = load(root, f"{RESULTS}/mfu.json")
    m, peak = d["provenance"]["machine"], d["peak_flops"]
    load_avg = m["load_average"][0] if m.get("load_average") else None
    return (f"`mfu.py` on {m['cpu_model']}, {m['cores']} cores, AMX {'yes' if m['amx'] else 'no'}, torch {m['torch']}"
            f" ({d['provenance']['date'][:10]}, 1-min load {load_avg}): fp32 {peak['float32'] / 1e9:.0f} GFLOP/s, bf16 "
            f"{peak['bfloat16'] / 1e9:.0f} GFLOP/s, so `precision: auto` picks {'bf16' if m['amx'] else 'fp32'} there. "
            f"Source: `{RESULTS}/mfu.json`.")


# ---- the analyzer on today's CI failures (benchmarks/today_failures.py) --------------------------------------------

TODAY_LABELS = {
    "last_line": "echo the log's last line",
    "failure_line": "echo the distiller's failure line",
    "base_zero": "base model, zero-shot",
    "base_few": "base model, 3 nearest dev cases as examples",
    "retrieval": "knowledge base alone (entry that fits, else nearest)",
    "finetuned": "fine-tuned (shipped adapter + prior), no knowledge base",
    "finetuned_kb": "**shipped analyzer: knowledge base, then fine-tuned model**",
}
TODAY_COLS = ["category", "root_cause_sim", "fix_sim", "entity", "degenerate", "quote_not_in_log", "kb_used"]


def _today_rows(d: dict, kb_label: str) -> list[list]:
    rows = []
    for setting in ("pasted", "embedded"):
        for name, r in d.get(setting, {}).items():
            s = r["summary"]
            rows.append([setting, kb_label, TODAY_LABELS.get(name, name)]
                        + [f3(s[c]) if name not in ("last_line", "failure_line") or c != "category" else "–"
                           for c in TODAY_COLS])
    return rows


def today_failures(root: Path) -> str:
    gen = load(root, f"{RESULTS}/today_failures_test_generalisation.json")
    cov = load(root, f"{RESULTS}/today_failures_test_coverage.json")
    head = (f"Test split: {gen['n_cases']} real failures of {gen['n_kinds']} failure kinds that no dev case, training "
            f"example, rule or generalisation knowledge-base entry comes from (`examples/ci-failures/today/`), pasted "
            f"as people paste them and buried in a {gen.get('embedded_lines', 2000):,}-line job log of their CI dialect. "
            "Knowledge base *generalisation*: the built-in entries less those of the test kinds; *coverage*: every "
            "built-in entry (written from documentation, never from the cases). Similarities are medians of the "
            "MiniLM cosine with the thread's own root cause and fix; run once, after every choice was made on dev.")
    table_ = table(["log", "knowledge base", "system", "category", "root cause sim", "fix sim", "key entity named",
                    "degenerate", "quote not in log", "entry used"],
                   _today_rows(gen, "generalisation") + _today_rows(cov, "coverage"))
    return "\n\n".join([head, table_, source(f"{RESULTS}/today_failures_test_generalisation.json",
                                            f"{RESULTS}/today_failures_test_coverage.json")])



def today_verdict(root: Path) -> str:
    """"Fine-tune, retrieve, or both?" for this task, stated from the two test runs: every comparison is computed."""
    gen = load(root, f"{RESULTS}/today_failures_test_generalisation.json")
    cov = load(root, f"{RESULTS}/today_failures_test_coverage.json")
    g, c = gen["pasted"], cov["pasted"]
    s = {k: v["summary"] for k, v in g.items()}
    kb_only, both = c["retrieval"]["summary"], c["finetuned_kb"]["summary"]
    ft = s["finetuned"]

    measures = ("category", "root_cause_sim", "fix_sim", "entity")
    worse = [m for m in measures if ft[m] <= s["retrieval"][m]]
    better = "better on every measure" if not worse else f"not better on {', '.join(worse)}"

    def cmp(a: float, b: float) -> str:
        return "above" if a > b else "below" if a < b else "equal to"

    return "\n".join([
        f"- **Where no entry fits the failure** (generalisation): the fine-tuned model answers. Against the untuned base "
        f"model zero-shot it lifts category {f3(s['base_zero']['category'])} → {f3(ft['category'])}, root cause "
        f"{f3(s['base_zero']['root_cause_sim'])} → {f3(ft['root_cause_sim'])}, and its degenerate answers "
        f"{f3(s['base_zero']['degenerate'])} → {f3(ft['degenerate'])} (the loop guard; {f3(ft['raw_degenerate'])} "
        f"looped before it). Against the nearest knowledge-base entry of another kind it is {better} "
        f"(root cause {f3(s['retrieval']['root_cause_sim'])} vs {f3(ft['root_cause_sim'])}): retrieving a wrong "
        f"entry does not help. But its root cause is {cmp(ft['root_cause_sim'], s['last_line']['root_cause_sim'])} "
        f"echoing the log's last line ({f3(ft['root_cause_sim'])} vs {f3(s['last_line']['root_cause_sim'])}) and "
        f"its fix {cmp(ft['fix_sim'], s['last_line']['fix_sim'])} it ({f3(ft['fix_sim'])} vs "
        f"{f3(s['last_line']['fix_sim'])}): on kinds it never saw, the 135M model does not know the fix.",
        f"- **Where an entry fits** (coverage; an entry was used for {f3(both['kb_used'])} of the cases): retrieval "
        f"carries the answer. Root cause {f3(ft['root_cause_sim'])} → {f3(both['root_cause_sim'])}, fix "
        f"{f3(ft['fix_sim'])} → {f3(both['fix_sim'])}, category {f3(ft['category'])} → {f3(both['category'])}. "
        f"The knowledge base alone scores root cause {f3(kb_only['root_cause_sim'])}, fix {f3(kb_only['fix_sim'])}, "
        f"key entity {f3(kb_only['entity'])}; with the model for the cases no entry fits, key entity "
        f"{f3(both['entity'])}.",
        "- **So: retrieve first, fine-tune for the rest.** Knowledge (what a failure means, how to fix it) comes from "
        "the knowledge base, and grows with every incident a team adds; the fine-tuned model gives the 3-line format, "
        "stops by itself, and answers logs no entry knows, where the zero-shot base model does not. Fine-tuning alone "
        "does not generalise the knowledge to new kinds of failure.",
        "",
        "Source: " + ", ".join(f"`{RESULTS}/today_failures_test_{k}.json`" for k in ("generalisation", "coverage")) + ".",
    ])


# ---- the registry ---------------------------------------------------------------------------------------------------

BLOCKS: dict[str, Callable[[Path], str]] = {
    "analyzer-test": analyzer_test,
    "analyzer-dev": analyzer_dev,
    "analyzer-test-per-category": analyzer_test_per_category,
    "adapter-run": adapter_run,
    "corpus-stats": corpus_stats,
    "prior-weight": prior_weight,
    "compare-ci": compare_ci,
    "compare-tickets": compare_tickets,
    "compare-gha": compare_gha,
    "compare-gha-lr": compare_gha_lr,
    "recipe-verdicts": recipe_verdicts,
    "lr-check-gha": lr_check_gha,
    "rank-check-gha": rank_check_gha,
    "hparam-check-tickets": hparam_check_tickets,
    "distill-recall": distill_recall,
    "recall-summary": recall_summary,
    "merge-speedup": merge_speedup,
    "batch-generate": batch_generate,
    "bench-summary": bench_summary,
    "harness-training": harness_training,
    "harness-targets": harness_targets,
    "analyze-latency": analyze_latency,
    "serve-load": serve_load,
    "cold-start": cold_start,
    "inference-levers": inference_levers,
    "llamacpp-engine": llamacpp_engine,
    "latency-ceilings": latency_ceilings,
    "levers": levers,
    "forward-passes": forward_passes,
    "matmul-peak": matmul_peak,
    "today-failures": today_failures,
    "today-verdict": today_verdict,
}


# ---- rewriting and checking -----------------------------------------------------------------------------------------

def docs(root: Path) -> list[Path]:
    return sorted({p for pattern in DOCS for p in root.glob(pattern) if p.is_file()})


def render(root: Path, text: str, where: str, problems: list[str]) -> str:
    """`text` with every block regenerated; unknown block names are reported in `problems`."""

    def fill(m: re.Match) -> str:
        name = m["name"]
        if name not in BLOCKS:
            problems.append(f"{where}: block '{name}' has no function in scripts/figures.py BLOCKS")
            return m[0]
        body = BLOCKS[name](root).strip("\n")
        # A block that stands inline in a paragraph keeps the markers on its own lines anyway: Markdown joins them.
        return f"{m[1]}{body}\n{m[4]}"

    return BLOCK.sub(fill, text)


def run(root: Path, check: bool) -> int:
    problems: list[str] = []
    used: set[str] = set()
    for path in docs(root):
        where = str(path.relative_to(root))
        text = path.read_text(encoding="utf-8")
        opened = re.findall(r"<!-- figures:([\w-]+) -->", text)
        closed = re.findall(r"<!-- /figures:([\w-]+) -->", text)
        if sorted(opened) != sorted(closed):
            problems.append(f"{where}: unbalanced figures markers (opened {sorted(opened)}, closed {sorted(closed)})")
            continue
        used.update(opened)
        new = render(root, text, where, problems)
        if new == text:
            continue
        if check:
            old_bodies = {m["name"]: m["body"] for m in BLOCK.finditer(text)}
            for m in BLOCK.finditer(new):
                if old_bodies.get(m["name"]) != m["body"]:
                    problems.append(f"{where}: block '{m['name']}' differs from what its JSON gives")
        else:
            _write_atomic(path, new)
            print(f"rewrote {where}")
    unused = sorted(set(BLOCKS) - used)
    if unused:
        problems.append(f"blocks defined but used in no document: {', '.join(unused)}")
    for p in problems:
        print(p, file=sys.stderr)
    if problems and check:
        print("run `python scripts/figures.py` to regenerate", file=sys.stderr)
    return 1 if problems else 0


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 naming each block that differs")
    ap.add_argument("--root", type=Path, default=ROOT, help="repository root (default: this script's repository)")
    args = ap.parse_args(argv)
    return run(args.root.resolve(), args.check)


if __name__ == "__main__":
    sys.exit(main())
