"""Throughput and latency of `tunesmith serve` /v1/analyze at 1, 4 and 16 concurrent clients over loopback.

The script starts the server itself (a subprocess on a free port), waits for /healthz, then each level sends
`--requests` different synthetic CI logs (at least one per client); throughput = completed requests / wall time.

    python benchmarks/serve_load.py --clients 1 4 16                # the shipped analyzer
    python benchmarks/serve_load.py --run smollm2-135m --clients 1 4 16   # the base model (never stops: answers hit the cap)

`--mix` instead sends issue 18's mixed load once (tests/load_mix.py: 200 clients at once, valid analyze and chat
beside oversized, malformed, wrongly typed, unknown-path, keyless and slowloris ones) to the shipped analyzer (or
--run), and records every client's outcome and the server's RSS before, at peak and after a settle period.

    python benchmarks/serve_load.py --mix     # writes benchmarks/results/serve_load_mix.json
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


def start_server(args, port: int, env: dict | None = None) -> subprocess.Popen:
    cmd = [str(Path(sys.executable).with_name("tunesmith")), "serve", "--port", str(port),
           "--max-batch", str(args.max_batch), "--max-new-tokens", str(args.max_new_tokens), "--timeout", str(args.timeout)]
    cmd += ["--run", args.run] if args.run else []  # none: the analyzer shipped with tunesmith
    cmd += [] if args.mix else ["--max-queue", str(max(64, 2 * max(args.clients)))]  # --mix: the server's defaults
    log = open(args.server_log, "w")  # noqa: SIM115 — kept open for the server's lifetime
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)


def mix(args, httpx, console) -> int:
    """Issue 18's mixed load against a server with the default limits and an API key; see the module docstring."""
    import threading

    import psutil

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from load_mix import EXPECTED, MIX, marker, run_mix

    from tunesmith.serve.settings import Settings

    key = "bench-" + os.urandom(12).hex()
    port = free_port()
    proc = start_server(args, port, {**os.environ, "TUNESMITH_API_KEY": key})
    url, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {key}"}
    mb = lambda b: round(b / 2**20, 1)  # noqa: E731
    try:
        wait_ready(httpx, port, proc, 300, args.server_log)
        server = psutil.Process(proc.pid)
        # Warm up with a full batch: the baseline then includes what the allocator keeps after the largest batch
        # (activations, KV cache), and what is left after the load is what the load itself left behind.
        with console.status("warming up"):
            warm = {"analyze": args.max_batch, "chat": 2}
            run_mix(url, key, Settings.max_request_bytes, Settings.read_timeout_s, warm, args.timeout)
        baseline, peak, done = server.memory_info().rss, [0], threading.Event()

        def poll() -> None:
            while not done.wait(0.1):
                peak[0] = max(peak[0], server.memory_info().rss)

        threading.Thread(target=poll, daemon=True).start()
        with console.status(f"{sum(MIX.values())} clients at once"):
            result = run_mix(url, key, Settings.max_request_bytes, Settings.read_timeout_s, deadline=args.timeout)
        done.set()
        alive = httpx.get(url + "/healthz", timeout=10).status_code == 200
        time.sleep(args.settle)
        after = server.memory_info().rss
        metrics, page = httpx.get(url + "/metrics", headers=auth).text, httpx.get(url + "/").text
        leaked = [i for i in range(sum(MIX.values())) if marker(i) in metrics or marker(i) in page]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    five_xx = {k: [o for o in v if isinstance(o, int) and o >= 500] for k, v in result.outcomes.items()}
    table = Table("kind", "clients", "outcomes", "expected", "max s", title=f"tunesmith serve --mix, {args.run or 'shipped analyzer'}")
    for k, v in result.outcomes.items():
        table.add_row(k, str(len(v)), ", ".join(f"{o}: {n}" for o, n in result.summary()[k].items()),
                      ", ".join(map(str, sorted(EXPECTED[k], key=str))), f"{max(result.seconds[k]):.1f}")
    Console(width=140).print(table)
    rss = {"baseline_mb": mb(baseline), "peak_mb": mb(peak[0]), "after_settle_mb": mb(after), "settle_s": args.settle}
    console.print(f"RSS: {rss}; alive after: {alive}; wall {result.wall_s:.0f} s; log text in /metrics or /: {leaked}")
    payload = {"provenance": provenance(), "args": vars(args), "mix": MIX, "outcomes": result.summary(),
               "unexpected": result.unexpected(), "five_xx": {k: v for k, v in five_xx.items() if v},
               "max_seconds": {k: round(max(v), 2) for k, v in result.seconds.items()}, "wall_s": round(result.wall_s, 1),
               "server_alive_after": alive, "rss": rss, "log_text_in_metrics_or_page": leaked}
    out = Path(args.out if args.out != "benchmarks/results/serve_load.json" else "benchmarks/results/serve_load_mix.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    return 0 if alive and not result.unexpected() and not leaked else 1


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
    ap.add_argument("--run", default=None, help="run dir or model spec the server loads [default: the shipped "
                    "analyzer, what `tunesmith serve` serves]")
    ap.add_argument("--mix", action="store_true", help="issue 18's mixed 200-client load instead of the levels")
    ap.add_argument("--settle", type=float, default=30.0, help="--mix: seconds before the after-load RSS is read")
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
    # A plain SIGTERM would skip the `finally` below and orphan the server: turn it into an exit that runs it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.mix:
        return mix(args, httpx, console)
    if args.run is None:
        from tunesmith.logs.analyze import BUNDLED_ADAPTER

        args.run = str(BUNDLED_ADAPTER)
    port = free_port()
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
