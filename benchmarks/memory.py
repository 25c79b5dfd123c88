"""Peak RSS of `tunesmith data validate` on a 2 GB JSONL and `tunesmith analyze` on a 1 GB log (file, stdin, gzip).

The inputs are generated in a temp dir (removed afterwards) from the shipped corpus: each JSONL record is a corpus
record with about a third of its log lines swapped for lines of other records and a job-id line (so records are
neither exact nor near copies), and the log is corpus lines with timestamps, one 64 MB line without a newline in the
middle and the sample log's failure at the end. Each command runs as a subprocess; its peak RSS is the kernel's
ru_maxrss from wait4 (psutil polling of its process tree as a cross-check).

    python benchmarks/memory.py              # 2 GB / 1 GB, writes benchmarks/results/memory.json
    python benchmarks/memory.py --size 0.1   # 200 MB / 100 MB, writes benchmarks/results/memory_size0.1.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _provenance import provenance  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "examples/ci-failures/data/train.jsonl"
SAMPLE_LOG = ROOT / "examples/ci-failures/sample.log"
JSONL_BYTES, LOG_BYTES = 2 * 10**9, 10**9  # at --size 1
LONG_LINE_SHARE = 16  # one line without a newline holds 1/16 of the log (64 MB of 1 GB)
LIMIT_MB = 1536  # issue 18: both stay under 1.5 GB


def make_jsonl(path: Path, size: int, seed: int = 0) -> int:
    """Perturbed corpus records up to `size` bytes; returns the number of records."""
    rng = random.Random(seed)
    records = [json.loads(x) for x in CORPUS.read_text().splitlines() if x.strip()]
    pool = [line for r in records for line in r["input"].splitlines() if line.strip()]
    n = written = 0
    with path.open("w") as f:
        while written < size:
            base = records[n % len(records)]
            lines = [rng.choice(pool) if rng.random() < 0.35 else line for line in base["input"].splitlines()]
            lines.insert(rng.randrange(len(lines) + 1), f"job {n} on runner-{rng.randrange(10**6)}")
            rec = {"input": "\n".join(lines), "output": base["output"], "category": base["category"],
                   "meta": {"source": "benchmark", "n": n}}
            written += f.write(json.dumps(rec) + "\n")
            n += 1
    return n


def make_log(path: Path, size: int, seed: int = 0) -> None:
    """Timestamped corpus lines, a line of size/LONG_LINE_SHARE characters halfway, the sample log's failure at the end."""
    rng = random.Random(seed)
    pool = [line for x in CORPUS.read_text().splitlines() if x.strip() for line in json.loads(x)["input"].splitlines()]
    tail = SAMPLE_LOG.read_bytes()
    written, long_done, t = 0, False, 0
    with path.open("wb") as f:
        while written < size - len(tail):
            block = "".join(f"2024-07-08T{(t + i) // 3600 % 24:02d}:{(t + i) // 60 % 60:02d}:{(t + i) % 60:02d}Z "
                            f"{rng.choice(pool)}\n" for i in range(2000)).encode()
            t += 2000
            written += f.write(block)
            if not long_done and written > size // 2:
                chunk = b"0123456789abcdef" * 4096
                for _ in range(size // LONG_LINE_SHARE // len(chunk)):
                    written += f.write(chunk)
                written += f.write(b"\n")
                long_done = True
        f.write(tail)


def measure(cmd: list[str], stdin_path: Path | None = None) -> dict:
    """Run `cmd`, return its wall time, exit code, ru_maxrss (MB) and the psutil-polled peak of its process tree."""
    stdin = stdin_path.open("rb") if stdin_path else subprocess.DEVNULL
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    polled, done = [0], threading.Event()

    def poll() -> None:
        p = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                tree = [p, *p.children(recursive=True)]
                polled[0] = max(polled[0], sum(q.memory_info().rss for q in tree))
            except psutil.Error:
                pass
            time.sleep(0.05)

    threading.Thread(target=poll, daemon=True).start()
    out, err = proc.stdout.read(), proc.stderr.read()  # small: a report or one JSON answer
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if stdin_path:
        stdin.close()
    return {"command": " ".join(cmd[1:]), "exit_code": proc.returncode, "wall_s": round(time.perf_counter() - t0, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "polled_peak_rss_mb": round(polled[0] / 2**20, 1),
            "stdout": out.decode(errors="replace"), "stderr_tail": err.decode(errors="replace")[-600:]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=float, default=1.0, help="scale of the inputs: 1 = 2 GB JSONL and 1 GB log")
    ap.add_argument("--tokens", action="store_true", help="count tokens in validate (slow: tokenises every example); "
                    "the default passes --no-tokens")
    ap.add_argument("--tmp", default=None, help="where to generate the inputs [default: the system temp dir]")
    ap.add_argument("--out", default=None, help="[default: benchmarks/results/memory.json, memory_size<S>.json]")
    args = ap.parse_args(argv)
    console = Console(stderr=True)
    exe = str(Path(sys.executable).with_name("tunesmith"))
    tmp = Path(tempfile.mkdtemp(prefix="tunesmith-memory-", dir=args.tmp))
    rows = []
    try:
        data, log = tmp / "big.jsonl", tmp / "big.log"
        with console.status("generating inputs"):
            n_records = make_jsonl(data, int(JSONL_BYTES * args.size))
            make_log(log, int(LOG_BYTES * args.size))
            with log.open("rb") as src, gzip.open(tmp / "big.log.gz", "wb", compresslevel=1) as dst:
                shutil.copyfileobj(src, dst, 2**20)
        sizes = {p.name: p.stat().st_size for p in tmp.iterdir()}
        validate = [exe, "data", "validate", str(data), "--json"] + ([] if args.tokens else ["--no-tokens"])
        cases = [("data validate", validate, None, data),
                 ("analyze FILE", [exe, "analyze", str(log), "--json"], None, log),
                 ("analyze - (stdin)", [exe, "analyze", "-", "--json"], log, log),
                 ("analyze FILE.gz", [exe, "analyze", str(tmp / "big.log.gz"), "--json"], None, log)]
        for name, cmd, stdin, src in cases:
            with console.status(f"{name} on {sizes[src.name] / 1e9:.2f} GB"):
                row = measure(cmd, stdin)
            row |= {"case": name, "input_bytes": sizes[src.name]}
            out = row.pop("stdout")
            try:
                answer = json.loads(out)
            except json.JSONDecodeError:
                row["stdout_tail"] = out[-600:]
            else:  # the report's figures (validate) or the analysis (analyze): the run did its work, not just exit
                keep = ("stats", "notes", "n_errors", "n_warnings") if name == "data validate" else (
                    "category", "root_cause", "evidence", "notes")
                row["answer"] = {k: answer.get(k) for k in keep}
            rows.append(row)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    table = Table("case", "input GB", "peak RSS MB", "polled MB", "wall s", "exit", title=f"peak RSS, size {args.size}")
    for r in rows:
        table.add_row(r["case"], f"{r['input_bytes'] / 1e9:.2f}", f"{r['peak_rss_mb']:.0f}",
                      f"{r['polled_peak_rss_mb']:.0f}", f"{r['wall_s']:.0f}", str(r["exit_code"]))
    Console(width=120).print(table)
    ok = all(r["exit_code"] in (0, 1) and r["peak_rss_mb"] < LIMIT_MB for r in rows)
    payload = {"provenance": provenance(), "args": vars(args), "records": n_records, "limit_mb": LIMIT_MB,
               "all_under_limit": ok, "results": rows}
    out = Path(args.out or f"benchmarks/results/memory{'' if args.size == 1 else f'_size{args.size:g}'}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
