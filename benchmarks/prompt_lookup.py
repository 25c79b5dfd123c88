"""Prompt-lookup decoding for the analyzer: same answers, fewer decoding steps? On seeded BugSwarm **dev** logs.

The analyzer's root cause often quotes the log, so n-grams of the prompt predict runs of the answer. transformers'
prompt-lookup decoding (`prompt_lookup_num_tokens`) proposes the tokens that followed the last matching n-gram in the
prompt and verifies them in one forward pass; greedy decoding keeps exactly the tokens plain decoding would pick, up
to floating-point ties. One log per call (prompt lookup works on a batch of one, the `tunesmith analyze` case); plain
and lookup alternate log by log so load from other processes hits both alike.

    python benchmarks/prompt_lookup.py --n 12 --lookup 10
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _provenance import provenance  # noqa: E402
from analyzer_accuracy import DEFAULT_SHARED, bugswarm_cases, read_log  # noqa: E402


def main(argv=None) -> int:
    from tunesmith.atomic import write_json
    from tunesmith.logs.analyze import Analyzer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--lookup", type=int, default=10, help="prompt_lookup_num_tokens")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "prompt_lookup.json")
    args = ap.parse_args(argv)
    cases = bugswarm_cases(args.shared, "dev", 60, 0)[: args.n]
    analyzer = Analyzer(kb=False)  # the model path: a knowledge-base answer generates nothing
    gen = analyzer.generator
    analyzer.analyze(read_log(cases[0]["log"]))  # one-off costs (kernel choice, allocator growth) paid outside
    rows = []
    for c in cases:
        log = read_log(c["log"])
        row = {"id": c["id"]}
        for name, lookup in (("plain", None), ("lookup", args.lookup)):
            gen.prompt_lookup = lookup
            t0 = time.perf_counter()
            a = analyzer.analyze(log)
            row[name] = {"s": time.perf_counter() - t0, "raw": a.raw,
                         "tokens": len(gen.tokenizer(a.raw, add_special_tokens=False)["input_ids"])}
        row["same"] = row["plain"]["raw"] == row["lookup"]["raw"]
        rows.append(row)
        print(f"{c['id'][:40]:40s} plain {row['plain']['s']:5.2f} s  lookup {row['lookup']['s']:5.2f} s  "
              f"{row['plain']['tokens']} tokens  same {row['same']}", flush=True)
    plain = [r["plain"]["s"] for r in rows]
    look = [r["lookup"]["s"] for r in rows]
    summary = {"median_plain_s": statistics.median(plain), "median_lookup_s": statistics.median(look),
               "speedup_of_medians": statistics.median(plain) / statistics.median(look),
               "same_answers": sum(r["same"] for r in rows), "n": len(rows)}
    write_json(args.out, {"provenance": provenance(), "args": {k: str(v) for k, v in vars(args).items()},
                          "summary": summary, "rows": rows})
    print(f"median plain {summary['median_plain_s']:.2f} s, lookup {summary['median_lookup_s']:.2f} s "
          f"({summary['speedup_of_medians']:.2f}x); same answer {summary['same_answers']}/{summary['n']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
