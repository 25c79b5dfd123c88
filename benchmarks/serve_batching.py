"""Does the server's batching pay? N concurrent /v1/analyze requests over loopback, worker batch 1 vs batch B, real model.

Logs are LogChunks **dev** logs (throughput only, no quality is scored). Both settings serve the same requests with the
same loaded model in the same invocation; the figure is requests per second and the ratio between them.

    python benchmarks/serve_batching.py --data ../shared/data/ci-logs/logchunks --requests 16 --batch 8
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import Progress

import tunesmith
from tunesmith.logs.analyze import Analyzer
from tunesmith.serve.app import Settings, create_app
from tunesmith.serve.runner import BackgroundServer

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for _provenance
from _provenance import provenance  # noqa: E402


def dev_logs(root: Path, n: int) -> list[str]:
    split = json.loads((root / "split.json").read_text())
    names = sorted(k for k, v in split.items() if v == "dev")[:n]
    if len(names) < n:
        sys.exit(f"{root / 'split.json'}: only {len(names)} dev logs, asked for {n}")
    return [gzip.decompress((root / "logs" / f"{name}.gz").read_bytes()).decode("utf-8", "replace") for name in names]


def serve_all(analyzer: Analyzer, logs: list[str], batch: int, progress: Progress) -> tuple[float, list[int]]:
    sizes: list[int] = []
    app = create_app(analyzer, Settings(max_batch=batch, batch_wait_ms=20, request_timeout_s=3600))
    real = app.state.batcher.on_batch
    app.state.batcher.on_batch = lambda kind, size, s, tok: (sizes.append(size), real(kind, size, s, tok))
    task = progress.add_task(f"batch {batch}", total=len(logs))
    with BackgroundServer(app) as url, ThreadPoolExecutor(len(logs)) as pool:
        def one(text: str) -> int:
            code = httpx.post(url + "/v1/analyze", content=text, timeout=3600).status_code
            progress.advance(task)
            return code

        t0 = time.perf_counter()
        codes = list(pool.map(one, logs))
        seconds = time.perf_counter() - t0
    if codes != [200] * len(logs):
        sys.exit(f"some requests failed: {codes}")
    return seconds, sizes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/ci-logs/logchunks"), help="LogChunks folder")
    ap.add_argument("--model", default="smollm2-135m", help="run dir or base model spec")
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/serve_batching.json"))
    args = ap.parse_args()
    if not (args.data / "split.json").exists():
        sys.exit(f"LogChunks not found at {args.data} (pass --data)")
    console = Console()
    logs = dev_logs(args.data, args.requests)
    analyzer = Analyzer(generator=tunesmith.load(args.model), max_new_tokens=args.max_new_tokens)
    analyzer.analyze(logs[0])  # warm-up: first-call allocations are not serving cost
    results = {}
    with Progress(console=console) as progress:
        for batch in (1, args.batch):
            seconds, sizes = serve_all(analyzer, logs, batch, progress)
            results[batch] = {"seconds": round(seconds, 2), "requests_per_s": round(len(logs) / seconds, 3),
                              "batch_sizes": sizes}
    speedup = results[1]["seconds"] / results[args.batch]["seconds"]
    for b, r in results.items():
        console.print(f"worker batch {b:>2}: {args.requests} concurrent requests in {r['seconds']:.1f} s "
                      f"({r['requests_per_s']:.2f} req/s), batches {r['batch_sizes']}")
    console.print(f"speed-up of batch {args.batch} over batch 1: {speedup:.2f}x  (load average {os.getloadavg()[0]:.1f})")
    record = {"provenance": provenance(),
              "model": args.model, "requests": args.requests, "max_new_tokens": args.max_new_tokens,
              "results": results, "speedup": round(speedup, 2), "load_average_1min": round(os.getloadavg()[0], 1),
              "command": " ".join(sys.argv)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=args.out.parent, delete=False, suffix=".tmp") as f:
        json.dump(record, f, indent=2)
    os.replace(f.name, args.out)


if __name__ == "__main__":
    main()
