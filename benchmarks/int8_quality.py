"""Does a cheaper precision keep the analyzer's answers? fp32 vs int8 / bf16 variants on seeded BugSwarm **dev** logs.

For each variant: share of answers in the valid 3-line format, category accuracy (known gold), agreement of the
category and of the whole answer text with fp32, and the wall time of batched analysis (4 logs per call).

    python benchmarks/int8_quality.py --n 20      # writes benchmarks/results/int8_quality.json
    python benchmarks/int8_quality.py --n 20 --variants fp32 bf16 --out benchmarks/results/bf16_quality.json

bf16 weights pay only where the CPU has AMX (a bf16 matmul is slower than fp32 on AVX512-BF16 alone): the result's
provenance says which CPU it was.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
import warnings
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _provenance import provenance  # noqa: E402
from analyzer_accuracy import DEFAULT_SHARED, bugswarm_cases, read_log  # noqa: E402


def quantized(model, keep_fp32: list[str]):
    """`model` with its linear layers as dynamic int8 (one weight scale per output channel, fbgemm/VNNI), in place,
    except the layers whose names contain one of `keep_fp32`."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    spec = {n: per_channel_dynamic_qconfig for n, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and not any(k in n for k in keep_fp32)}
    with warnings.catch_warnings():  # torch.ao's notice that eager quantization moves to torchao
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, spec, dtype=torch.qint8, inplace=True)


def main(argv=None) -> int:
    from tunesmith.atomic import write_json
    from tunesmith.logs.analyze import Analyzer, resolve_run
    from tunesmith.models.generate import load_generator

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "int8_quality.json")
    ap.add_argument("--variants", nargs="+", default=["fp32", "int8", "int8-head", "int8-head-down"],
                    choices=["fp32", "bf16", "int8", "int8-head", "int8-head-down"],
                    help="fp32 first: the others are compared with it")
    args = ap.parse_args(argv)
    cases = bugswarm_cases(args.shared, "dev", 60, 0)[: args.n]  # the first n of analyzer_accuracy's dev sample
    gen = load_generator(resolve_run(None))
    analyzer = Analyzer(generator=gen, max_new_tokens=96)
    logs = [read_log(c["log"]) for c in cases]
    fp32 = gen.model
    build = {"fp32": ("fp32", lambda: fp32),
             "bf16": ("bf16 weights", lambda: copy.deepcopy(fp32).to(torch.bfloat16)),
             "int8": ("int8 all linear", lambda: quantized(copy.deepcopy(fp32), [])),
             "int8-head": ("int8, head fp32", lambda: quantized(copy.deepcopy(fp32), ["lm_head"])),
             "int8-head-down": ("int8, head + down_proj fp32",
                                lambda: quantized(copy.deepcopy(fp32), ["lm_head", "down_proj"]))}
    variants = {build[v][0]: build[v][1]() for v in args.variants}
    ref = None
    rows: list[dict] = []
    known = [i for i, c in enumerate(cases) if c["gold"] != "unknown"]
    for name, model in variants.items():
        gen.model = model
        t0 = time.perf_counter()
        res = [a for i in range(0, len(logs), 4) for a in analyzer.analyze_many(logs[i : i + 4])]
        seconds = time.perf_counter() - t0
        ref = ref or res
        row = {"variant": name, "valid": sum(a.valid for a in res) / len(res),
               "accuracy": sum(res[i].category == cases[i]["gold"] for i in known) / len(known),
               "same_category_as_fp32": sum(a.category == b.category for a, b in zip(res, ref)) / len(res),
               "same_text_as_fp32": sum(a.raw == b.raw for a, b in zip(res, ref)) / len(res), "seconds": seconds}
        rows.append(row)
        print(f"{name:28s} valid {row['valid']:.2f}  accuracy {row['accuracy']:.2f}  "
              f"same category as fp32 {row['same_category_as_fp32']:.2f}  "
              f"same text {row['same_text_as_fp32']:.2f}  {seconds:.1f} s", flush=True)
        # after each variant, so a run stopped early keeps what it measured
        write_json(args.out, {"provenance": provenance(), "args": {k: str(v) for k, v in vars(args).items()},
                              "cases": [c["id"] for c in cases], "known_gold": len(known), "results": rows})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
