"""`tunesmith ci-report`: inside a failed CI job, explain the failure in the job summary, a JSON artifact and the log.

It analyzes locally, asks a tunesmith server's /v1/analyze (`--server`), or analyzes locally with the answer written by
any OpenAI-compatible model server (`--endpoint`); either way the log is redacted before it leaves the runner. It always
exits 0: the job is already red for its real reason, and a broken report must never hide or replace that reason.
"""

from __future__ import annotations

import html
import json
import os
import re
import sys
from pathlib import Path

import typer

from tunesmith.atomic import write_text
from tunesmith.logs import options as opt
from tunesmith.models import options as remote_opt

__all__ = ["analyze_remote", "ci_report", "to_markdown", "to_text"]

SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


def read_log(log: str) -> str:
    if log == "-":
        return sys.stdin.buffer.read().decode("utf-8", errors="replace")
    path = Path(log)
    if not path.is_file():
        raise FileNotFoundError(f"log file not found: {log} (write the failed step's output there, e.g. `cmd 2>&1 | tee {log}`)")
    return path.read_bytes().decode("utf-8", errors="replace")


def analyze_remote(text: str, url: str, api_key: str | None, timeout: float) -> dict:
    """POST the redacted log to a tunesmith server's /v1/analyze; a clear error for each way that can fail."""
    import httpx

    from tunesmith.logs.redact import redact
    from tunesmith.output import progress

    headers = {"Content-Type": "text/plain; charset=utf-8"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    endpoint = url.rstrip("/") + "/v1/analyze"
    try:
        with progress(f"waiting for {endpoint}", None):
            r = httpx.post(endpoint, content=redact(text).encode("utf-8"), headers=headers, timeout=timeout)
    except httpx.HTTPError as e:
        raise RuntimeError(f"could not reach the tunesmith server at {endpoint}: {type(e).__name__}: {e}") from None
    if r.status_code != 200:
        try:
            message = r.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = r.text[:300]
        raise RuntimeError(f"the tunesmith server at {endpoint} answered {r.status_code}: {message}")
    return r.json()


def analyze_local(text: str, run: Path | None, **settings) -> dict:
    """The analysis on this runner: the run's model, or with `endpoint=URL` in `settings` a model server's (only the
    redacted excerpt goes there). `settings` are `tunesmith.logs.options.build_analyzer`'s."""
    from tunesmith.output import progress

    warnings: list[str] = []
    analyzer = opt.build_analyzer(run, warn=warnings.append, **settings)
    with progress("analyzing the log", None):  # in a CI log: a line every few seconds while the model writes
        result = analyzer.analyze(text).to_dict()
    result["notes"] = list(result.get("notes") or []) + [w.removeprefix("warning: ") for w in warnings]
    return result


def _inline(s: str) -> str:
    # The summary renders Markdown with some HTML: the model's words are shown as text, on one line.
    return html.escape(" ".join(str(s).split()), quote=False)


def _fence(lines: list[str]) -> str:
    longest = max((len(m) for line in lines for m in re.findall(r"`+", line)), default=0)
    return "`" * max(3, longest + 1)


def to_markdown(result: dict | None, errors: list[str], log_name: str,
                heading: str = "## tunesmith: CI failure analysis") -> str:
    out = [heading, ""]
    if result is not None:
        out += [f"**Category:** {_inline(result.get('category_name') or result.get('category', 'unknown'))}  ",
                f"**Root Cause:** {_inline(result.get('root_cause', ''))}  ",
                f"**Fix:** {_inline(result.get('fix', ''))}", ""]
        evidence = [f"{e['line']}: {e['text']}" for e in result.get("evidence") or []]
        if evidence:
            fence = _fence(evidence)
            out += [f"Evidence from `{_inline(log_name)}` (line: text):", "", f"{fence}text", *evidence, fence, ""]
        out += [f"> Note: {_inline(n)}" for n in result.get("notes") or []]
    for e in errors:
        out.append(f"> **tunesmith could not analyze this log:** {_inline(e)}")
    out.append("")
    return "\n".join(out) + "\n"


def to_text(result: dict | None, errors: list[str]) -> str:
    out = []
    if result is not None:
        out += [f"Category: {result.get('category_name') or result.get('category')}",
                f"Root Cause: {result.get('root_cause', '')}", f"Fix: {result.get('fix', '')}"]
        if result.get("evidence"):
            out.append("Evidence:")
            out += [f"  {e['line']}: {e['text']}" for e in result["evidence"]]
        out += [f"Note: {n}" for n in result.get("notes") or []]
    out += [f"tunesmith could not analyze this log: {e}" for e in errors]
    return "\n".join(out)


# The options of a CI step, shared by `ci-report` (a log the job wrote) and `ci-fetch` (logs fetched from the CI host):
# where the analysis runs (here, a tunesmith server, or any OpenAI-compatible model server) and with which run.
SERVER = typer.Option(None, "--server", envvar="TUNESMITH_SERVER_URL", show_default=False,
                      help="URL of a tunesmith server; without it the analysis runs here.")
API_KEY = typer.Option(None, "--api-key", envvar="TUNESMITH_API_KEY", show_default=False,
                       help="Bearer key of the --server, and of --endpoint unless --api-key-env names another "
                       "variable (prefer the env var: arguments show in process lists).")
ENDPOINT = typer.Option(None, "--endpoint", envvar="TUNESMITH_ENDPOINT_URL", metavar="URL", show_default=False,
                        help="An OpenAI-compatible model server (Ollama, llama.cpp's server, vLLM, `tunesmith "
                        "serve`) that writes the answers; redaction, distillation and the knowledge base run here.")
API_KEY_ENV = typer.Option(None, "--api-key-env", metavar="NAME", show_default=False,
                           help="With --endpoint: read its key from this environment variable instead of "
                           "--api-key / $TUNESMITH_API_KEY (e.g. OPENAI_API_KEY).")
RUN = typer.Option(None, "--run", help="A trained run dir for local analysis (default: the bundled adapter).")
TIMEOUT = typer.Option(300.0, help="Seconds to wait for the server (or for one answer from --endpoint).")


def ci_report(
    log: str = typer.Argument("-", help="The failed step's log file, or '-' for stdin."),
    server: str = SERVER,
    api_key: str = API_KEY,
    endpoint: str = ENDPOINT,
    model: str = remote_opt.MODEL,
    api_key_env: str = API_KEY_ENV,
    run: Path = RUN,
    out: Path = typer.Option(Path("tunesmith-report.json"), "--out", help="Where to write the JSON report artifact."),
    markdown: Path = typer.Option(None, "--markdown", help="Also write the Markdown summary here (e.g. for GitLab)."),
    timeout: float = TIMEOUT,
    budget: int = opt.BUDGET,
    max_new_tokens: int = opt.MAX_NEW_TOKENS,
    prior: bool = opt.PRIOR,
    prior_weight: float = opt.PRIOR_WEIGHT,
    kb: list[Path] = opt.KB,
    use_kb: bool = opt.USE_KB,
) -> None:
    """Report why a CI job failed: job summary ($GITHUB_STEP_SUMMARY), JSON artifact, printed text. Always exits 0.

    The analyzer's settings (--budget … --no-kb) apply here and with --endpoint; a --server uses its own."""
    from tunesmith.models.remote import key_from_env

    errors: list[str] = []
    result: dict | None = None
    server, endpoint = server or None, endpoint or None  # an empty action input arrives as ""
    settings = dict(budget=budget, max_new_tokens=max_new_tokens, prior=prior, prior_weight=prior_weight, kb=kb,
                    use_kb=use_kb)
    try:
        text = read_log(log)
        if not text.strip():
            raise ValueError(f"the log {log} is empty: did the failed step write its output there?")
        if server and endpoint:
            raise ValueError("--server and --endpoint both given: --server asks a tunesmith server for the whole "
                             "analysis, --endpoint only for the model's answer; pass one")
        if server:
            result = analyze_remote(text, server, api_key or None, timeout)
        elif endpoint:
            key = key_from_env(api_key_env) if api_key_env else (api_key or None)
            result = analyze_local(text, run, endpoint=endpoint, model=model, api_key=key, timeout=timeout, **settings)
        else:
            result = analyze_local(text, run, **settings)
    except Exception as e:  # any failure becomes a note: this command must not change the job's outcome
        errors.append(str(e) or type(e).__name__)

    log_name = "stdin" if log == "-" else log
    md = to_markdown(result, errors, log_name)
    report = {"log": log_name, "server": server, "endpoint": endpoint, "analysis": result, "errors": errors}
    targets = [(out, json.dumps(report, ensure_ascii=False, indent=2) + "\n", "w")]
    if markdown is not None:
        targets.append((markdown, md, "w"))
    if os.environ.get(SUMMARY_ENV):
        targets.append((Path(os.environ[SUMMARY_ENV]), md, "a"))  # GitHub expects appends: other steps write there too
    for path, content, mode in targets:
        try:
            if mode == "a":
                with path.open("a", encoding="utf-8") as f:
                    f.write(content)
            else:
                write_text(path, content)
        except OSError as e:
            print(f"tunesmith: could not write {path}: {e}", file=sys.stderr)
    typer.echo(to_text(result, errors))
