"""Throughput and latency of `tunesmith serve` /v1/analyze at 1, 4 and 16 concurrent clients over loopback.

The script starts the server itself (a subprocess on a free port), waits for /healthz, then each level sends
`--requests` different synthetic CI logs (at least one per client); throughput = completed requests / wall time.

    python benchmarks/serve_load.py --run smollm2-135m --clients 1 4 16
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analyze_latency import percentile, synthetic_log  # noqa: E402
from _provenance import provenance  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args, port: int) -> subprocess.Popen:
    cmd = [str(Path(sys.executable).with_name("tunesmith")), "serve", "--run", args.run, "--port", str(port),
           "--max-batch", str(args.max_batch), "--max-new-tokens", str(args.max_new_tokens),
           "--timeout", str(args.timeout), "--max-queue", str(max(64, 2 * max(args.clients)))]
    log = open(args.server_log, "w")  # noqa: SIM115 — kept open for the server's lifetime
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)


def wait_ready(httpx, port: int, proc: subprocess.Popen, timeout: float, server_log: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            sys.exit(f"the server exited with {proc.returncode} before it was ready; see {server_log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    sys.exit(f"the server was not ready after {timeout:.0f} s; see {server_log}")


async def level(httpx, port: int, clients: int, n_requests: int, lines: int, on_done) -> dict:
    """`clients` concurrent loops sharing `n_requests` different logs, each loop one request at a time."""
    latencies: list[float] = []
    errors: list[str] = []

    async def client(c: int, http) -> None:
        for k in range(c, n_requests, clients):
            log = synthetic_log(lines, seed=1000 * clients + 10 * c + k)
            t0 = time.perf_counter()
            r = await http.post(f"http://127.0.0.1:{port}/v1/analyze", json={"log": log, "job": f"c{c}-{k}"})
            if r.status_code == 200:
                latencies.append(time.perf_counter() - t0)
            else:
                errors.append(f"{r.status_code}: {r.text[:200]}")
            on_done()

    async with httpx.AsyncClient(timeout=None) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(c, http) for c in range(clients)))
        wall = time.perf_counter() - t0
    return {"clients": clients, "requests": n_requests, "ok": len(latencies), "errors": errors[:5],
            "wall_s": wall, "throughput_rps": len(latencies) / wall,
            "p50_s": percentile(latencies, 50) if latencies else None,
            "p95_s": percentile(latencies, 95) if latencies else None}


def main(argv=None) -> int:
    import httpx

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default="smollm2-135m", help="run dir or model spec the server loads")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--requests", type=int, default=8, help="requests per level (at least one per client)")
    ap.add_argument("--lines", type=int, default=2000, help="lines of each synthetic log")
    ap.add_argument("--max-batch", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=160)
    ap.add_argument("--timeout", type=float, default=600.0, help="server's per-request timeout (a loaded CPU is slow)")
    ap.add_argument("--server-log", default="/tmp/tunesmith_serve_load.log")
    ap.add_argument("--out", default="benchmarks/results/serve_load.json")
    args = ap.parse_args(argv)
    console = Console(stderr=True)
    port = free_port()
    # A plain SIGTERM would skip the `finally` below and orphan the server: turn it into an exit that runs it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    proc = start_server(args, port)
    load_before = os.getloadavg()
    try:
        wait_ready(httpx, port, proc, 300, args.server_log)
        # One request first: the first generate() pays one-off costs that would land on the 1-client level.
        asyncio.run(level(httpx, port, 1, 1, args.lines, lambda: None))
        rows = []
        total = sum(max(args.requests, c) for c in args.clients)
        with Progress(console=console) as bar:
            task = bar.add_task("requests", total=total)
            for c in args.clients:
                rows.append(asyncio.run(level(httpx, port, c, max(args.requests, c), args.lines,
                                              lambda: bar.advance(task))))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    base = rows[0]["throughput_rps"]
    table = Table("clients", "requests", "ok", "req/s", "× 1 client", "p50 s", "p95 s", title=f"tunesmith serve, {args.run}")
    for r in rows:
        r["speedup_vs_first"] = r["throughput_rps"] / base if base else None
        table.add_row(str(r["clients"]), str(r["requests"]), str(r["ok"]), f"{r['throughput_rps']:.3f}",
                      f"{r['speedup_vs_first']:.2f}", f"{r['p50_s'] or 0:.1f}", f"{r['p95_s'] or 0:.1f}")
    Console(width=120).print(table)
    payload = {"provenance": provenance(),
               "args": vars(args), "load_average_before": load_before, "load_average_after": os.getloadavg(),
               "results": rows}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    tmp.replace(out)
    return 0 if all(r["ok"] == r["requests"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
