"""Model FLOPs utilisation on CPU: the matmul peak of this machine, measured, and the FLOPs a LoRA/full step needs.

MFU = (useful model FLOPs per second achieved in training) / (torch.matmul 2048² peak in the same dtype, same run).

    python benchmarks/mfu.py            # the measured fp32 and bf16 matmul peaks -> benchmarks/results/mfu.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from tunesmith.atomic import write_json

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _provenance import provenance  # noqa: E402

__all__ = ["matmul_peak", "body_params", "train_flops", "FORMULA"]

FORMULA = (
    "FLOPs = k·N_body·tokens + k·d·V·label_tokens, k = 4 for LoRA (forward 2·N + backward ≈ 2·N for activation "
    "gradients; adapter weight gradients are < 4% extra and not counted), k = 6 for full fine-tuning; N_body = base "
    "parameters minus the embedding table (a lookup does no multiply); the output layer counts only at label "
    "positions (the loss needs no other logits); attention's T² term is not counted (≈ 10% at 512 tokens), so MFU is "
    "a slight underestimate"
)


def matmul_peak(dtype: torch.dtype = torch.bfloat16, n: int = 2048, seconds: float = 3.0) -> float:
    """Best FLOP/s of n×n @ n×n over ~`seconds` (best, not mean: the CPU is shared and we want its capability)."""
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    for _ in range(3):  # oneDNN picks and caches its kernel (AMX for bf16) on the first calls
        torch.matmul(a, b)
    best = 0.0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        torch.matmul(a, b)
        best = max(best, 2 * n**3 / (time.perf_counter() - t0))
    return best


def body_params(model: torch.nn.Module) -> tuple[int, int, int]:
    """(N_body, hidden size d, vocab V) of a causal LM, adapters excluded."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    emb = inner.get_input_embeddings().weight
    total = sum(p.numel() for n, p in inner.named_parameters() if "lora_" not in n)
    head = inner.get_output_embeddings().weight
    untied = head.numel() if head.data_ptr() != emb.data_ptr() else 0
    return total - emb.numel() - untied, emb.shape[1], emb.shape[0]


def train_flops(n_body: int, d: int, vocab: int, tokens: int, label_tokens: int, full: bool = False) -> float:
    k = 6 if full else 4
    return k * n_body * tokens + k * d * vocab * label_tokens


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "mfu.json")
    args = ap.parse_args(argv)
    peaks = {str(dt).removeprefix("torch."): matmul_peak(dt, seconds=args.seconds) for dt in (torch.float32, torch.bfloat16)}
    result = {"provenance": provenance(), "args": {k: str(v) for k, v in vars(args).items()},
              "threads": torch.get_num_threads(), "matmul": "2048 x 2048 @ 2048 x 2048, best of the window",
              "peak_flops": peaks, "flops_formula": FORMULA}
    print(json.dumps({k: v for k, v in result.items() if k != "provenance"}, indent=2))
    write_json(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
