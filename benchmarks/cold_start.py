"""Cold start of `tunesmith analyze`: from the command to the answer, and where that time goes.

Two measurements, each in fresh processes (a cold start cannot be measured in a warm one):
  * end to end: `tunesmith analyze LOG` as a user types it, `--repeats` times (and as many with the merged-model
    cache off, alternating), on a synthetic job log of `--lines` lines (the one `analyze_latency.py` uses: setup/test noise, one pytest failure). The first call may also build the
    merged-model cache; it is reported apart from the rest ("first"), and the cache dir is a fresh temporary one so the
    first call really is the first.
  * phases: one fresh process that runs the same steps as the CLI with a clock between them: interpreter + CLI
    imports, torch/transformers imports, the analyzer (knowledge base, prior), the model load, distillation, prompt
    prefill, decoding and parsing.

    python benchmarks/cold_start.py --lines 20000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for _provenance, analyze_latency
from _provenance import provenance  # noqa: E402
from analyze_latency import synthetic_log  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

# Runs in a fresh interpreter: the clock starts before the first import, as it does for a user's command.
_PHASES = r"""
import json, sys, time
t0 = time.perf_counter(); marks = []
def mark(name):
    marks.append((name, time.perf_counter()))
import tunesmith.cli  # noqa: F401  (what the `tunesmith` entry point imports first)
mark("CLI imports")
import torch, transformers  # noqa: E401,F401
mark("torch + transformers imports")
from tunesmith.logs.analyze import Analyzer
a = Analyzer()
mark("analyzer (knowledge base, prior)")
g = a.generator
mark("model load")
log = open(sys.argv[1], encoding="utf-8").read()
ex = a.excerpt(log)
mark("read + distil")
# Prefill alone: one forward pass over the prompt the analyzer sends (its chat template, its system prompt).
msgs = ([{"role": "system", "content": g.meta["system_prompt"]}] if g.meta.get("system_prompt") else [])
msgs.append({"role": "user", "content": ex.text})
ids = g.tokenizer.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
with torch.inference_mode():
    g.model(ids)
mark("prefill (one forward pass)")
res = a.analyze(log)
mark("analyze (prefill + decode + parse)")
new = len(g.tokenizer(res.raw, add_special_tokens=False)["input_ids"])
prev, rows = t0, []
for name, t in marks:
    rows.append({"phase": name, "s": t - prev}); prev = t
print(json.dumps({"phases": rows, "total_s": prev - t0, "prompt_tokens": int(ids.shape[1]), "new_tokens": new,
                  "category": res.category, "kb": bool(res.kb), "answer": res.to_text(evidence=False)}))
"""


def run_cli(log: Path, env: dict) -> float:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "tunesmith", "analyze", str(log)], env=env, capture_output=True,
                          text=True, timeout=900)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"tunesmith analyze failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return wall


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=20000, help="synthetic log length")
    ap.add_argument("--repeats", type=int, default=3, help="cold CLI calls after the first")
    ap.add_argument("--out", default="benchmarks/results/cold_start.json")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tunesmith-cold-") as tmp:
        log = Path(tmp) / "job.log"
        log.write_text(synthetic_log(args.lines), encoding="utf-8")
        # A fresh cache: the first call pays for whatever the analyzer caches on disk, the later ones do not.
        env = {**os.environ, "TUNESMITH_CACHE": str(Path(tmp) / "cache"), "PYTHONUNBUFFERED": "1"}
        load_before = os.getloadavg()
        first = run_cli(log, env)
        print(f"first call (empty cache): {first:.2f} s", file=sys.stderr, flush=True)
        # Alternating with the merged-model cache off (the adapter applied and merged at every start, as before the
        # cache), so load from other processes hits both alike.
        walls, uncached = [], []
        for i in range(args.repeats):
            walls.append(run_cli(log, env))
            uncached.append(run_cli(log, {**env, "TUNESMITH_MERGED_CACHE": "off"}))
            print(f"cold call {i + 1}/{args.repeats}: {walls[-1]:.2f} s (merged-model cache off: {uncached[-1]:.2f} s)",
                  file=sys.stderr, flush=True)
        done = subprocess.run([sys.executable, "-c", _PHASES, str(log)], env=env, capture_output=True, text=True,
                              timeout=900)
        if done.returncode != 0:
            raise SystemExit(f"phase run failed:\n{done.stderr[-2000:]}")
        phases = json.loads(done.stdout.strip().splitlines()[-1])
    result = {"provenance": provenance(), "args": vars(args), "load_average_before": load_before,
              "load_average_after": os.getloadavg(), "first_s": first, "cold_s": walls,
              "cold_p50_s": statistics.median(walls), "uncached_s": uncached,
              "uncached_p50_s": statistics.median(uncached), "phases": phases}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(".tmp")
    tmp_out.write_text(json.dumps(result, indent=2))
    tmp_out.replace(out)
    print(f"tunesmith analyze, {args.lines:,}-line log: first call {first:.2f} s, then cold median "
          f"{result['cold_p50_s']:.2f} s over {len(walls)} calls (merged-model cache off: "
          f"{result['uncached_p50_s']:.2f} s)")
    print("phase\tseconds")
    for row in phases["phases"]:
        print(f"{row['phase']}\t{row['s']:.2f}")
    print(f"prompt tokens {phases['prompt_tokens']}, answer tokens {phases['new_tokens']}, category {phases['category']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
