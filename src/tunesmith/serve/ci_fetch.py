"""`tunesmith ci-fetch github|gitlab`: after a run failed, fetch its failed jobs' logs through the CI host's API (with the
last successful run's log of each job as a baseline), explain each failure, and write the summary, files or a comment.

No job of the failed run needs editing (no `tee` to a file): a separate workflow (`.github/workflows/analyze-failures.yml`,
on `workflow_run`) or a GitLab job `when: on_failure` runs it. The analysis is `ci-report`'s, one answer per failed job.
"""

from __future__ import annotations

import json
import os
import re
import sys
from enum import Enum
from pathlib import Path

import typer

from tunesmith.atomic import write_text
from tunesmith.logs import options as opt
from tunesmith.models import options as remote_opt
from tunesmith.serve import ci_api
from tunesmith.serve import ci_report as step
from tunesmith.serve.ci_report import SUMMARY_ENV, _fence, _inline, analyze_remote, to_markdown

__all__ = ["analyze_logs", "ci_fetch", "new_lines"]

COMMENT_LIMIT = 65_000  # GitHub refuses a comment body over 65,536 characters; GitLab's note limit is larger
_DIGITS, _HEX = re.compile(r"\d+"), re.compile(r"\b[0-9a-f]{7,}\b")


class Host(str, Enum):
    github = "github"
    gitlab = "gitlab"


# Per host: (repo env, run-id env, token env, API base env, public API base). GitHub's run id is never defaulted: in
# the workflow_run workflow $GITHUB_RUN_ID is that workflow's own run, not the failed one.
HOSTS = {
    Host.github: ("GITHUB_REPOSITORY", None, "GITHUB_TOKEN", "GITHUB_API_URL", ci_api.GITHUB_API),
    Host.gitlab: ("CI_PROJECT_ID", "CI_PIPELINE_ID", "GITLAB_TOKEN", "CI_API_V4_URL", ci_api.GITLAB_API),
}


def _key(line: str) -> str:
    """What two runs' lines are compared by: cleaned (timestamps, colours gone), numbers and hashes made equal."""
    from tunesmith.logs.clean import clean_line

    return _DIGITS.sub("0", _HEX.sub("h", " ".join(clean_line(line).text.split())))


def new_lines(log: str, baseline: str, limit: int = 8) -> tuple[int, list[tuple[int, str]]]:
    """(how many, the first `limit` as (line number, redacted text)) of the log's lines the baseline log did not print.

    They are shown beside the analysis, not fed into it: the analyzer was trained and measured on single logs."""
    from tunesmith.logs.clean import clean_line
    from tunesmith.logs.redact import redact

    seen = {_key(line) for line in baseline.split("\n")}
    found = [(n, line) for n, line in enumerate(log.split("\n"), 1) if (k := _key(line)) and k not in seen]
    return len(found), [(n, redact(clean_line(line).text)) for n, line in found[:limit]]


def analyze_logs(texts: list[str], *, server: str | None, api_key: str | None, endpoint: str | None, model: str | None,
                 api_key_env: str | None, run: Path | None, timeout: float,
                 settings: dict) -> list[tuple[dict | None, list[str]]]:
    """(analysis, errors) per log, each as `ci-report` would give it; the analyzer is built once for all of them."""
    if not texts:
        return []  # every log missing: do not load a model for nothing
    if server:
        out = []
        for text in texts:
            try:
                out.append((analyze_remote(text, server, api_key, timeout), []))
            except Exception as e:  # one job's failed analysis must not hide the others'
                out.append((None, [str(e) or type(e).__name__]))
        return out
    from tunesmith.models.remote import key_from_env
    from tunesmith.output import progress

    warnings: list[str] = []
    try:
        remote = dict(endpoint=endpoint, model=model, timeout=timeout,
                      api_key=key_from_env(api_key_env) if api_key_env else api_key) if endpoint else {}
        analyzer = opt.build_analyzer(run, warn=warnings.append, **remote, **settings)
    except Exception as e:
        return [(None, [str(e) or type(e).__name__]) for _ in texts]
    out = []
    for i, text in enumerate(texts, 1):
        try:
            with progress(f"analyzing failed job {i} of {len(texts)}", None):
                result = analyzer.analyze(text).to_dict()
            result["notes"] = list(result.get("notes") or []) + [w.removeprefix("warning: ") for w in warnings]
            out.append((result, []))
        except Exception as e:
            out.append((None, [str(e) or type(e).__name__]))
    return out


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[:60] or "job"


def _short(sha: str) -> str:
    return f" at `{sha[:7]}`" if sha else ""


def _link(text: str, url: str) -> str:
    return f"[{text}]({url})" if url else text


def to_markdown_run(run: ci_api.Run, jobs: list[dict]) -> str:
    word = "pipeline" if run.host == "gitlab" else "run"
    n = len(run.failed) + len(run.skipped)
    of = f" of {run.n_jobs}" if run.n_jobs is not None else ""
    out = ["## tunesmith: CI failure analysis", "",
           f"{_link(f'{word.capitalize()} {run.id}', run.url)} on `{_inline(run.ref)}`{_short(run.sha)}: "
           f"{n}{of} {'job' if n == 1 and not of else 'jobs'} failed."]
    if run.baseline:
        out[-1] += f" Compared with the last successful {word}, {_link(str(run.baseline['id']), run.baseline['url'])}" \
                   f"{_short(run.baseline['sha'])}."
    out += [""] + [f"> Note: {_inline(n)}" for n in run.notes]
    if run.skipped:
        out.append(f"> Note: not analyzed (past --max-jobs): {_inline(', '.join(run.skipped))}")
    for job in jobs:
        heading = f"### `{_inline(job['name']).replace('`', '')}` {_link('(job)', job['url'])}"
        out.append(to_markdown(job["analysis"], job["errors"], job["log_in_out"], heading=heading).rstrip("\n"))
        if job["cut"]:
            out.append(f"> Note: the log's first {job['cut']:,} bytes were dropped (--max-log-bytes); line numbers "
                       "count from what was kept.")
        new = job.get("new_lines")
        cited = {e["line"] for e in (job["analysis"] or {}).get("evidence") or []}
        if new and {n for n, _ in new["first"]} - cited:  # not when the evidence above already shows them all
            lines = [f"{n}: {text}" for n, text in new["first"]]
            fence = _fence(lines)
            out += ["", f"Lines the last successful {word} did not print (first {len(lines)} of {new['count']}):", "",
                    f"{fence}text", *lines, fence]
        out.append("")
    return "\n".join(out) + "\n"


def _fail(message: str, out: Path, code: int) -> typer.Exit:
    """A problem before any analysis: one line on stderr, and the same line where the report would have been."""
    print(f"tunesmith ci-fetch: {message}", file=sys.stderr)
    md = f"## tunesmith: CI failure analysis\n\n> **tunesmith could not fetch the failed jobs:** {_inline(message)}\n"
    _write(out, {"errors": [message], "jobs": []}, md)
    return typer.Exit(code)


def _write(out: Path, report: dict, md: str) -> None:
    try:
        write_text(out / "report.json", json.dumps(report, ensure_ascii=False, indent=2) + "\n")
        write_text(out / "report.md", md)
        if os.environ.get(SUMMARY_ENV):
            with Path(os.environ[SUMMARY_ENV]).open("a", encoding="utf-8") as f:  # other steps write there too
                f.write(md)
    except OSError as e:
        print(f"tunesmith ci-fetch: could not write the report: {e}", file=sys.stderr)


def ci_fetch(
    host: Host = typer.Argument(..., help="The CI host: github (Actions) or gitlab."),
    repo: str = typer.Option(None, "--repo", show_default=False,
                             help="GitHub: owner/name (default $GITHUB_REPOSITORY). GitLab: the project's id or path "
                             "(default $CI_PROJECT_ID)."),
    run_id: int = typer.Option(None, "--run-id", show_default=False,
                               help="GitHub: the failed workflow run's id (`github.event.workflow_run.id`). GitLab: "
                               "the pipeline's id (default $CI_PIPELINE_ID)."),
    token_env: str = typer.Option(None, "--token-env", metavar="NAME", show_default=False,
                                  help="The environment variable holding the API token (default GITHUB_TOKEN, or "
                                  "GITLAB_TOKEN: a token with read_api; CI_JOB_TOKEN is sent as a job token)."),
    api_url: str = typer.Option(None, "--api-url", metavar="URL", show_default=False,
                                help="The API's base URL (default $GITHUB_API_URL or $CI_API_V4_URL, else the public "
                                "host)."),
    out: Path = typer.Option(Path("tunesmith-ci"), "--out", help="Folder for the logs, report.json and report.md."),
    comment: bool = typer.Option(False, "--comment", help="Also post the report on the pull request / merge request."),
    review: int = typer.Option(None, "--review", show_default=False,
                               help="The pull request number / merge request iid to comment on (default: the run's "
                               "pull request on GitHub, $CI_MERGE_REQUEST_IID on GitLab)."),
    baseline: bool = typer.Option(True, "--baseline/--no-baseline",
                                  help="Fetch each failed job's log in the last successful run too, and show the lines "
                                  "that run did not print."),
    max_jobs: int = typer.Option(10, "--max-jobs", min=1,
                                 help="Analyze at most this many failed jobs (the others are named)."),
    max_log_bytes: int = typer.Option(8_000_000, "--max-log-bytes", min=10_000,
                                      help="Keep at most this many bytes of each log, from its end (where the failure is)."),
    server: str = step.SERVER,
    api_key: str = step.API_KEY,
    endpoint: str = step.ENDPOINT,
    model: str = remote_opt.MODEL,
    api_key_env: str = step.API_KEY_ENV,
    run: Path = step.RUN,
    timeout: float = step.TIMEOUT,
    budget: int = opt.BUDGET,
    max_new_tokens: int = opt.MAX_NEW_TOKENS,
    prior: bool = opt.PRIOR,
    prior_weight: float = opt.PRIOR_WEIGHT,
    kb: list[Path] = opt.KB,
    use_kb: bool = opt.USE_KB,
) -> None:
    """Fetch a failed run's failed-job logs through the CI host's API and explain each failure: report.md/.json in
    --out, the job summary ($GITHUB_STEP_SUMMARY) and, with --comment, the pull/merge request.

    Exits 1 when the logs cannot be fetched or the comment cannot be posted (one line naming the URL), else 0."""
    repo_env, run_env, default_token, api_env, public = HOSTS[host]
    repo = repo or os.environ.get(repo_env)
    run_id = run_id or (int(os.environ[run_env]) if run_env and os.environ.get(run_env, "").isdigit() else None)
    token_env = token_env or default_token
    token = os.environ.get(token_env)
    if not repo:
        raise _fail(f"no {'owner/name' if host == Host.github else 'project'}: pass --repo or set ${repo_env}", out, 2)
    if host == Host.github and not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        raise _fail(f"--repo {repo!r} is not owner/name", out, 2)
    if run_id is None:
        raise _fail("no run id: pass --run-id" + (f" or set ${run_env}" if run_env else
                    " (in a workflow_run workflow: ${{ github.event.workflow_run.id }})"), out, 2)
    if not token:
        raise _fail(f"no API token: ${token_env} is empty (or name another variable with --token-env)", out, 2)
    base = api_url or os.environ.get(api_env) or public
    make = ci_api.github_api if host == Host.github else ci_api.gitlab_api
    api = make(base, token, token_env, max_log_bytes)
    fetch = ci_api.github_run if host == Host.github else ci_api.gitlab_pipeline
    try:
        ci_run = fetch(api, repo, run_id, max_jobs=max_jobs, baseline=baseline)
    except ci_api.FetchError as e:
        raise _fail(str(e), out, 1) from None
    if host == Host.gitlab and os.environ.get("CI_MERGE_REQUEST_IID", "").isdigit():
        ci_run.review = int(os.environ["CI_MERGE_REQUEST_IID"])
    ci_run.review = review or ci_run.review

    logs = out / "logs"
    jobs = []
    for i, job in enumerate(ci_run.failed, 1):
        path = logs / f"{i:02d}-{_slug(job.name)}.log"
        entry = {"name": job.name, "id": job.id, "url": job.url, "log": None, "cut": job.cut, "baseline_log": None,
                 "log_in_out": str(path.relative_to(out)),  # as in the uploaded artifact, not this runner's path
                 "analysis": None, "errors": [f"could not fetch its log: {job.error}"] if job.error else []}
        if not job.error:
            entry["log"] = str(path)
            write_text(path, job.log)
            if not job.log.strip():
                entry["errors"] = ["the job's log is empty"]
        if job.baseline is not None:
            entry["baseline_log"] = str(path.with_suffix(".baseline.log"))
            write_text(Path(entry["baseline_log"]), job.baseline.log)
            count, first = new_lines(job.log, job.baseline.log)
            entry["new_lines"] = {"count": count, "first": first}
        jobs.append(entry)
    settings = dict(budget=budget, max_new_tokens=max_new_tokens, prior=prior, prior_weight=prior_weight, kb=kb,
                    use_kb=use_kb)
    todo = [(entry, job.log) for entry, job in zip(jobs, ci_run.failed) if not entry["errors"]]
    results = analyze_logs([text for _, text in todo], server=server or None, api_key=api_key or None,
                           endpoint=endpoint or None, model=model, api_key_env=api_key_env, run=run, timeout=timeout,
                           settings=settings)
    for (entry, _), (result, errors) in zip(todo, results):
        entry["analysis"], entry["errors"] = result, errors

    md = to_markdown_run(ci_run, jobs)
    report = {"host": host.value, "repo": repo, "run": {"id": ci_run.id, "url": ci_run.url, "ref": ci_run.ref,
              "sha": ci_run.sha}, "baseline": ci_run.baseline, "jobs": jobs, "skipped": ci_run.skipped,
              "notes": ci_run.notes, "errors": []}
    code = 0
    if comment:
        if ci_run.review is None:
            report["notes"].append("no pull/merge request for this run: nothing to comment on (pass --review)")
            print(f"tunesmith ci-fetch: {report['notes'][-1]}", file=sys.stderr)
        else:
            body = md if len(md) <= COMMENT_LIMIT else md[:COMMENT_LIMIT] + "\n\n… (cut; the whole report is report.md)\n"
            try:
                report["comment"] = ci_api.post_comment(api, host.value, repo, ci_run.review, body)
            except ci_api.FetchError as e:
                report["errors"].append(f"could not post the comment: {e}")
                print(f"tunesmith ci-fetch: could not post the comment: {e}", file=sys.stderr)
                code = 1
    _write(out, report, md)
    if not jobs:
        typer.echo(f"{'Pipeline' if host == Host.gitlab else 'Run'} {ci_run.id} has no failed jobs: nothing to explain.")
    for job in jobs:
        a = job["analysis"]
        typer.echo(f"{job['name']}: " + (f"{a.get('category_name') or a.get('category')}: {a.get('root_cause', '')}"
                                        if a else f"not analyzed: {'; '.join(job['errors'])}"))
    raise typer.Exit(code)
