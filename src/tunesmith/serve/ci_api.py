"""The CI hosts' REST APIs that `tunesmith ci-fetch` reads: a GitHub Actions run's or GitLab pipeline's failed jobs, their
logs, and the same-named jobs' logs in the last successful run of the same workflow (GitHub) or ref (GitLab) as a baseline.

Plain urllib: no dependency beyond the standard library, so the light install used against a server is enough. The token
is only ever a request header, never part of a URL; error messages name the URL, and a redirect's signed query is cut off.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["Api", "FetchError", "Job", "Run", "github_api", "github_run", "gitlab_api", "gitlab_pipeline", "post_comment"]

GITHUB_API = "https://api.github.com"
GITLAB_API = "https://gitlab.com/api/v4"
GITHUB_FAILED = {"failure", "timed_out"}  # `cancelled` is someone's decision, not a failure to explain
MAX_PAGES = 50  # 100 jobs a page: a run with more than 5,000 jobs is cut, not fetched forever
MAX_REDIRECTS = 5


class FetchError(RuntimeError):
    """One line saying what the CI host answered and at which URL (never the token)."""


@dataclass
class Job:
    id: int
    name: str
    url: str  # the job's page on the CI host
    log: str = ""
    cut: int = 0  # bytes dropped from the start of the log to keep it under the cap (the failure is at the end)
    baseline: Job | None = None
    error: str = ""  # why its log could not be fetched (expired, erased): the other jobs are still explained


@dataclass
class Run:
    host: str  # "github" or "gitlab"
    id: int
    url: str
    ref: str
    sha: str
    n_jobs: int | None  # all jobs of the run, for "2 of 9 failed" (GitLab lists only the failed ones: None)
    failed: list[Job] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # failed jobs past --max-jobs, named but not fetched
    baseline: dict | None = None  # {"id", "url", "sha"} of the last successful run, None when there is none
    review: int | None = None  # the pull request number (GitHub) or merge request iid (GitLab) this run belongs to
    notes: list[str] = field(default_factory=list)


def _shown(url: str) -> str:
    """The URL as error messages show it: an object-storage redirect carries a signed query (a short-lived credential)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(query="", fragment="")) + ("?…" if parts.query else "")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib would follow a 302 with every header, the token included, to whatever host the Location names.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class Api:
    """GET/POST against one CI host's API with its auth headers; follows redirects itself and drops auth off-host."""

    def __init__(self, base: str, headers: dict[str, str], *, token_env: str, hint_403: str, max_bytes: int,
                 timeout: float = 60.0):
        self.base, self.headers, self.token_env = base.rstrip("/"), headers, token_env
        self.hint_403, self.max_bytes, self.timeout = hint_403, max_bytes, timeout
        self._opener = urllib.request.build_opener(_NoRedirect)

    def url(self, path: str, params: dict | None = None) -> str:
        url = path if "://" in path else self.base + path
        return url + ("?" + urllib.parse.urlencode(params) if params else "")

    def _open(self, method: str, url: str, body: bytes | None = None):
        """The response to `method url`, after redirects; FetchError for every answer that is not a 2xx."""
        for _ in range(MAX_REDIRECTS + 1):
            same_host = urllib.parse.urlsplit(url).netloc == urllib.parse.urlsplit(self.base).netloc
            headers = {"User-Agent": "tunesmith", **(self.headers if same_host else {})}
            if body is not None:
                headers["Content-Type"] = "application/json"
            try:
                req = urllib.request.Request(url, data=body, headers=headers, method=method)
                return self._opener.open(req, timeout=self.timeout)
            except urllib.error.HTTPError as e:
                location = e.headers.get("Location")
                if e.code in (301, 302, 303, 307, 308) and location:
                    url = urllib.parse.urljoin(url, location)
                    continue
                raise self._error(e.code, e.headers, url, e.read(2000)) from None
            except (urllib.error.URLError, OSError) as e:
                reason = getattr(e, "reason", None) or e
                raise FetchError(f"could not reach {_shown(url)}: {reason}") from None
            except ValueError as e:  # "unknown url type": an API URL without http(s)://
                raise FetchError(f"not a usable URL: {_shown(url)} ({e})") from None
        raise FetchError(f"{_shown(url)}: more than {MAX_REDIRECTS} redirects")

    def _error(self, status: int, headers, url: str, body: bytes) -> FetchError:
        shown = _shown(url)
        secondary = status == 403 and (headers.get("retry-after") or b"rate limit" in body.lower())
        if status == 429 or secondary or (status == 403 and headers.get("x-ratelimit-remaining") == "0"):
            reset = headers.get("x-ratelimit-reset") or headers.get("RateLimit-Reset")
            when = (f"; it resets at {time.strftime('%H:%M UTC', time.gmtime(int(reset)))}"
                    if reset and reset.isdigit() else "")
            return FetchError(f"{shown} answered {status}: API rate limit reached{when}")
        if status == 401:
            return FetchError(f"{shown} answered 401: the token in ${self.token_env} was refused (missing, expired "
                              "or revoked)")
        if status == 403:
            return FetchError(f"{shown} answered 403: the token in ${self.token_env} may not read this ({self.hint_403})")
        if status == 404:
            return FetchError(f"{shown} answered 404: no such repository, run or job (a token without access to a "
                              "private one gets 404 too)")
        try:
            message = json.loads(body).get("message") or ""
        except (ValueError, AttributeError):
            message = body.decode("utf-8", "replace")
        return FetchError(f"{shown} answered {status}: {' '.join(str(message).split())[:200]}")

    def get_json(self, path: str, params: dict | None = None):
        with self._open("GET", self.url(path, params)) as r:
            return self._parse(r.read(), r.geturl())

    def post_json(self, path: str, payload: dict):
        with self._open("POST", self.url(path), json.dumps(payload).encode("utf-8")) as r:
            return self._parse(r.read(), r.geturl())

    def _parse(self, raw: bytes, url: str):
        try:
            return json.loads(raw)
        except ValueError:
            raise FetchError(f"{_shown(url)} answered something that is not JSON: {raw[:80]!r}") from None

    def pages(self, path: str, params: dict, key: str | None = None) -> Iterator[dict]:
        """Every item of a paginated list, following the Link header's rel="next" (GitHub and GitLab both send it)."""
        url = self.url(path, params)
        for _ in range(MAX_PAGES):
            with self._open("GET", url) as r:
                data, link = self._parse(r.read(), r.geturl()), r.headers.get("Link") or ""
            yield from (data.get(key) or []) if key else data
            nxt = [p.split(";")[0].strip(" <>") for p in link.split(",") if 'rel="next"' in p]
            if not nxt:
                return
            url = nxt[0]

    def text(self, path: str) -> tuple[str, int]:
        """A log as text, keeping at most `max_bytes` of its end (where the failure is) and the count of bytes dropped."""
        kept, total = bytearray(), 0
        with self._open("GET", self.url(path)) as r:
            while chunk := r.read(1 << 16):
                total += len(chunk)
                kept += chunk
                if len(kept) > self.max_bytes:
                    del kept[: len(kept) - self.max_bytes]  # memory stays bounded however long the log is
        cut = total - len(kept)
        if cut:  # start at a whole line
            newline = kept.find(b"\n")
            cut += newline + 1
            del kept[: newline + 1]
        return kept.decode("utf-8", "replace"), cut


def github_api(base: str, token: str, token_env: str, max_bytes: int) -> Api:
    return Api(base, {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                      "X-GitHub-Api-Version": "2022-11-28"}, token_env=token_env, max_bytes=max_bytes,
               hint_403="the workflow needs `permissions: actions: read`, and `pull-requests: write` to comment")


def gitlab_api(base: str, token: str, token_env: str, max_bytes: int) -> Api:
    # CI_JOB_TOKEN authenticates with its own header; a personal, project or group access token with PRIVATE-TOKEN.
    header = "JOB-TOKEN" if token_env == "CI_JOB_TOKEN" else "PRIVATE-TOKEN"
    return Api(base, {header: token}, token_env=token_env, max_bytes=max_bytes,
               hint_403="it needs the read_api scope, and api to write a merge request note")


def _fetch_logs(api: Api, jobs: list[Job], log_path) -> None:
    for job in jobs:
        try:
            job.log, job.cut = api.text(log_path(job.id))
        except FetchError as e:
            job.error = str(e)


def github_run(api: Api, repo: str, run_id: int, *, max_jobs: int, baseline: bool = True) -> Run:
    """The run's failed jobs with their logs, and each one's log in the last successful run of the same workflow on
    the same branch."""
    base = f"/repos/{repo}/actions"
    info = api.get_json(f"{base}/runs/{run_id}")
    jobs = list(api.pages(f"{base}/runs/{run_id}/jobs", {"filter": "latest", "per_page": 100}, key="jobs"))
    failed = [Job(j["id"], j["name"], j.get("html_url") or "") for j in jobs if j.get("conclusion") in GITHUB_FAILED]
    prs = info.get("pull_requests") or []
    run = Run("github", run_id, info.get("html_url") or "", info.get("head_branch") or "", info.get("head_sha") or "",
              len(jobs), failed[:max_jobs], [j.name for j in failed[max_jobs:]], review=prs[0]["number"] if prs else None)
    _fetch_logs(api, run.failed, lambda i: f"{base}/jobs/{i}/logs")
    if baseline and run.failed:
        runs = api.get_json(f"{base}/workflows/{info['workflow_id']}/runs",
                            {"status": "success", "branch": run.ref, "per_page": 10}).get("workflow_runs") or []
        good = next((r for r in runs if r["id"] != run_id), None)  # newest first
        if good is None:
            run.notes.append(f"no successful run of this workflow on {run.ref} to compare with")
        else:
            run.baseline = {"id": good["id"], "url": good.get("html_url") or "", "sha": good.get("head_sha") or ""}
            good_jobs = api.pages(f"{base}/runs/{good['id']}/jobs", {"filter": "latest", "per_page": 100}, key="jobs")
            _attach_baselines(api, run, {j["name"]: j for j in good_jobs}, lambda i: f"{base}/jobs/{i}/logs")
    return run


def gitlab_pipeline(api: Api, project: str, pipeline_id: int, *, max_jobs: int, baseline: bool = True) -> Run:
    """The pipeline's failed jobs (not those allowed to fail) with their traces, and each one's trace in the last
    successful pipeline of the same ref."""
    base = f"/projects/{urllib.parse.quote(str(project), safe='')}"  # a path like group/project is one URL segment
    info = api.get_json(f"{base}/pipelines/{pipeline_id}")
    jobs = api.pages(f"{base}/pipelines/{pipeline_id}/jobs", {"scope[]": "failed", "per_page": 100})
    failed = [Job(j["id"], j["name"], j.get("web_url") or "") for j in jobs
              if not j.get("allow_failure")]  # an allowed failure leaves the pipeline green: not the reason it failed
    run = Run("gitlab", pipeline_id, info.get("web_url") or "", info.get("ref") or "", info.get("sha") or "",
              None, failed[:max_jobs], [j.name for j in failed[max_jobs:]])
    _fetch_logs(api, run.failed, lambda i: f"{base}/jobs/{i}/trace")
    if baseline and run.failed:
        pipes = api.get_json(f"{base}/pipelines", {"ref": run.ref, "status": "success", "order_by": "id",
                                                   "sort": "desc", "per_page": 10})
        good = next((p for p in pipes if p["id"] != pipeline_id), None)
        if good is None:
            run.notes.append(f"no successful pipeline on {run.ref} to compare with")
        else:
            run.baseline = {"id": good["id"], "url": good.get("web_url") or "", "sha": good.get("sha") or ""}
            good_jobs = api.pages(f"{base}/pipelines/{good['id']}/jobs", {"scope[]": "success", "per_page": 100})
            _attach_baselines(api, run, {j["name"]: j for j in good_jobs}, lambda i: f"{base}/jobs/{i}/trace")
    return run


def _attach_baselines(api: Api, run: Run, good_jobs: dict[str, dict], log_path) -> None:
    for job in run.failed:
        good = good_jobs.get(job.name)
        if job.error:
            continue
        if good is None or good.get("conclusion", good.get("status")) != "success":
            run.notes.append(f"the last successful run has no passing job named {job.name!r} to compare with")
            continue
        try:
            text, cut = api.text(log_path(good["id"]))
        except FetchError as e:
            run.notes.append(f"no baseline for {job.name!r}: {e}")
            continue
        job.baseline = Job(good["id"], job.name, good.get("html_url") or good.get("web_url") or "", text, cut)


def post_comment(api: Api, host: str, repo: str, review: int, body: str) -> str:
    """Comment on the pull request / merge request; returns the comment's URL (or the API's, when it gives none)."""
    if host == "github":
        made = api.post_json(f"/repos/{repo}/issues/{review}/comments", {"body": body})
        return made.get("html_url") or api.url(f"/repos/{repo}/issues/{review}/comments")
    project = urllib.parse.quote(repo, safe="")
    made = api.post_json(f"/projects/{project}/merge_requests/{review}/notes", {"body": body})
    return api.url(f"/projects/{project}/merge_requests/{review}/notes/{made.get('id', '')}")

