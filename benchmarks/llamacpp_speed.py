"""Would a compiled CPU engine answer faster? llama.cpp (through llama-cpp-python) against the PyTorch path, on the
analyzer's own prompt, in one run.

The shipped analyzer is exported to GGUF (merged, then llama.cpp's own converter) at each `--types` weight type, and the
same prompt (the distilled excerpt of a synthetic `--lines`-line job log, in the analyzer's chat template, tokenized by
the same tokenizer) goes through each engine greedily: load time, prompt prefill, per-token decode, and whether the
answer is the PyTorch answer word for word. PyTorch runs the Generator's own model (fp32, merged); its decode is timed
with a KV cache, one token per forward, as generate() does.

llama-cpp-python is not a tunesmith dependency: PyPI has only its sdist, which compiles llama.cpp (about 12 minutes on
2 cores). Install it beside the venv to run this:

    pip install llama-cpp-python==0.3.36          # compiles
    python benchmarks/llamacpp_speed.py --types f32,f16,bf16

Writes benchmarks/results/llamacpp_speed.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _provenance import provenance  # noqa: E402
from analyze_latency import synthetic_log  # noqa: E402

ROOT = HERE.parent


def torch_engine(gen, ids: list[int], max_new: int, repeats: int) -> dict:
    import torch

    from tunesmith.models.generate import _cache_kwarg

    name = _cache_kwarg()  # the KV cache's keyword in this transformers ("cache"; older: "past_key_values")
    model, stops = gen.model, set(gen.stop_ids)
    prefill, decode, out = [], [], []
    with torch.no_grad():
        for _ in range(repeats):
            t = time.perf_counter()
            res = model(input_ids=torch.tensor([ids]), use_cache=True, logits_to_keep=1)
            prefill.append(time.perf_counter() - t)
            cache, out = getattr(res, name), []
            nxt = int(res.logits[0, -1].argmax())
            t = time.perf_counter()
            while nxt not in stops and len(out) < max_new:
                out.append(nxt)
                res = model(input_ids=torch.tensor([[nxt]]), use_cache=True, **{name: cache})
                cache, nxt = getattr(res, name), int(res.logits[0, -1].argmax())
            decode.append((time.perf_counter() - t) / max(1, len(out)))
    return {"prefill_s": statistics.median(prefill), "decode_ms_per_token": 1000 * statistics.median(decode),
            "tokens": out}


def llama_engine(path: Path, ids: list[int], stops: set[int], max_new: int, repeats: int, threads: int) -> dict:
    from llama_cpp import Llama

    t = time.perf_counter()
    llm = Llama(model_path=str(path), n_ctx=len(ids) + max_new + 8, n_threads=threads, n_batch=512, verbose=False)
    load = time.perf_counter() - t
    prefill, decode, out = [], [], []
    for _ in range(repeats):
        llm.reset()
        t = time.perf_counter()
        llm.eval(ids)
        prefill.append(time.perf_counter() - t)
        out = []
        t = time.perf_counter()
        while len(out) < max_new:
            nxt = int(llm.sample(temp=0.0))
            if nxt in stops:
                break
            out.append(nxt)
            llm.eval([nxt])
        decode.append((time.perf_counter() - t) / max(1, len(out)))
    return {"load_s": load, "prefill_s": statistics.median(prefill), "decode_ms_per_token": 1000 * statistics.median(decode),
            "tokens": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=20000, help="lines of the synthetic job log")
    ap.add_argument("--types", default="f32,f16,bf16", help="GGUF weight types to convert to and time")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(HERE / "results" / "llamacpp_speed.json"))
    args = ap.parse_args()
    try:
        import llama_cpp
    except ImportError:
        sys.exit("llama-cpp-python is not installed (pip install llama-cpp-python==0.3.36; it compiles llama.cpp)")

    from tunesmith.export.llamacpp import convert
    from tunesmith.logs.analyze import Analyzer

    analyzer = Analyzer(kb=False)
    gen = analyzer.generator
    text = gen.prompt_text(analyzer.excerpt(synthetic_log(args.lines)).text)
    ids = gen.tokenizer(text, add_special_tokens=False)["input_ids"]
    print(f"prompt: {len(ids)} tokens; PyTorch fp32 ...", flush=True)
    rows = [{"engine": "pytorch", "weights": "fp32", **torch_engine(gen, ids, args.max_new_tokens, args.repeats)}]
    reference = rows[0]["tokens"]
    with tempfile.TemporaryDirectory() as tmp:
        merged = Path(tmp) / "merged"
        gen.model.save_pretrained(merged)
        gen.tokenizer.save_pretrained(merged)
        for kind in args.types.split(","):
            gguf = Path(tmp) / f"model-{kind}.gguf"
            print(f"llama.cpp {kind}: converting ...", flush=True)
            convert(merged, gguf, outtype=kind)
            rows.append({"engine": "llama.cpp", "weights": kind,
                         **llama_engine(gguf, ids, set(gen.stop_ids), args.max_new_tokens, args.repeats, args.threads)})
            gguf.unlink()
    base = rows[0]
    print(f"\n| engine | weights | load s | prefill s ({len(ids)} tokens) | decode ms/token | same answer |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        r["same_answer"] = r["tokens"] == reference
        r["answer"] = gen.tokenizer.decode(r.pop("tokens"), skip_special_tokens=True)
        r["prefill_ratio_vs_pytorch"] = base["prefill_s"] / r["prefill_s"]
        r["decode_ratio_vs_pytorch"] = base["decode_ms_per_token"] / r["decode_ms_per_token"]
        load = f"{r['load_s']:.2f}" if "load_s" in r else "–"
        print(f"| {r['engine']} | {r['weights']} | {load} | {r['prefill_s']:.2f} | {r['decode_ms_per_token']:.1f} | "
              f"{'yes' if r['same_answer'] else 'no'} |")
    out = {"provenance": provenance(), "args": vars(args), "prompt_tokens": len(ids),
           "llama_cpp_python": llama_cpp.__version__, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    tmp_out = Path(args.out).with_suffix(".tmp")
    tmp_out.write_text(json.dumps(out, indent=1) + "\n")
    tmp_out.replace(args.out)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
