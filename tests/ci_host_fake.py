"""A local fake of the GitHub Actions and GitLab job APIs that `tunesmith ci-fetch` reads, on 127.0.0.1.

Two servers: the API (checks the token, paginates with a Link header, answers a job log with a 302) and an "object
storage" on another port that serves the logs behind a signed URL and records whether any credential reached it.
"""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from serve_fakes import FAILING_LOG

GH_TOKEN = "ghs_" + "FakeToken0123456789abcdefABCDEF012345"
GL_TOKEN = "glpat-" + "FakeToken0123456789ab"
SIGNATURE = "sig=" + "SignedStorageQuery0123456789"
STAMP = "2026-12-06T01:02:03.4567890Z "

# The job that fails here, and the same job's log in the last green run: the same setup lines (other timings), no error.
FAILED_LOG = "\n".join(STAMP + line for line in FAILING_LOG.split("\n"))
GREEN_LOG = "\n".join(STAMP.replace("01:02", "00:59") + line for line in
                      [f"Collecting package{i}" for i in range(60)] + ["5 passed in 0.31s"]
                      + [f"Post job cleanup {i}" for i in range(10)])
OTHER_FAILED_LOG = "\n".join(["$ npm run lint", "src/a.ts(3,1): error TS2304: Cannot find name 'foo'.",
                              "ERROR: Job failed: exit code 2"])
LOGS = {
    # GitHub run 200: jobs 11 (lint, passed), 12 (test-a, failed), 13 (test-b, failed), 14 (docs, cancelled)
    11: "lint ok", 12: FAILED_LOG, 13: OTHER_FAILED_LOG, 14: "cancelled",
    # GitHub run 180, the last green one: 1801 test-a, 1802 test-b
    1801: GREEN_LOG, 1802: "all fine\n",
    # GitLab pipeline 900: 91 unit (failed), 92 flaky (failed, allowed to fail); pipeline 880: 8801 unit
    91: FAILED_LOG, 92: "flaky", 8801: GREEN_LOG,
}


def _job(i, name, conclusion):
    return {"id": i, "name": name, "status": "completed", "conclusion": conclusion,
            "html_url": f"https://github.example/acme/app/actions/runs/x/job/{i}"}


GH_RUNS = {
    200: {"id": 200, "workflow_id": 7, "head_branch": "main", "head_sha": "abc1234def", "pull_requests": [{"number": 42}],
          "html_url": "https://github.example/acme/app/actions/runs/200"},
    201: {"id": 201, "workflow_id": 7, "head_branch": "main", "head_sha": "abc1234def", "pull_requests": [],
          "html_url": "https://github.example/acme/app/actions/runs/201"},
    180: {"id": 180, "workflow_id": 7, "head_branch": "main", "head_sha": "0ff1ce0ff1",
          "html_url": "https://github.example/acme/app/actions/runs/180"},
}
GH_JOBS = {200: [[_job(11, "lint", "success"), _job(12, "test-a", "failure")],  # two pages
                 [_job(13, "test-b", "failure"), _job(14, "docs", "cancelled")]],
           201: [[_job(12, "test-a", "failure"), _job(16, "gone", "failure")]],  # 16: its log has expired
           180: [[_job(1801, "test-a", "success"), _job(1802, "test-b", "success")]]}
GL_FAILED = {900: [{"id": 91, "name": "unit", "status": "failed", "allow_failure": False, "web_url": "https://gl/j/91"},
                   {"id": 92, "name": "flaky", "status": "failed", "allow_failure": True, "web_url": "https://gl/j/92"}]}
GL_SUCCESS = {880: [{"id": 8801, "name": "unit", "status": "success", "web_url": "https://gl/j/8801"}]}


class Fake:
    """What the fake was asked: `requests` (method, path with query) on the API, `storage` (path, headers) of logs."""

    def __init__(self):
        self.requests: list[tuple[str, str]] = []
        self.storage: list[tuple[str, dict]] = []
        self.comments: list[tuple[str, dict]] = []
        self.api_url = self.storage_url = ""


def _handler(fake: Fake, kind: str):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):  # quiet test output
            pass

        def _send(self, status, body=b"", headers=()):
            body = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if kind == "storage":
                fake.storage.append((self.path, dict(self.headers)))
                job = int(urllib.parse.urlsplit(self.path).path.rsplit("/", 1)[1])
                ok = SIGNATURE in self.path
                return self._send(200 if ok else 403, LOGS[job].encode() if ok else b"bad signature")
            fake.requests.append(("GET", self.path))
            self._route("GET", None)

        def do_POST(self):
            fake.requests.append(("POST", self.path))
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            self._route("POST", body)

        def _route(self, method, body):
            url = urllib.parse.urlsplit(self.path)
            q = dict(urllib.parse.parse_qsl(url.query))
            p = url.path
            if p.startswith("/repos/acme/locked/"):
                return self._send(403, {"message": "Resource not accessible by integration"})
            if p.startswith("/repos/acme/busy/"):
                return self._send(403, {"message": "API rate limit exceeded"},
                                  [("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1796000000")])
            if p.startswith("/repos/"):
                if self.headers.get("Authorization") != f"Bearer {GH_TOKEN}":
                    return self._send(401, {"message": "Bad credentials"})
                return self._github(method, p.removeprefix("/repos/acme/app/actions"), q, body)
            if p.startswith("/api/v4/"):
                if self.headers.get("PRIVATE-TOKEN") != GL_TOKEN:
                    return self._send(401, {"message": "401 Unauthorized"})
                return self._gitlab(method, p.removeprefix("/api/v4/projects/group%2Fapp"), q, body)
            self._send(404, {"message": "Not Found"})

        def _github(self, method, p, q, body):
            parts = p.strip("/").split("/")
            if method == "POST" and self.path == "/repos/acme/app/issues/42/comments":
                fake.comments.append((self.path, body))
                return self._send(201, {"id": 1, "html_url": "https://github.example/acme/app/pull/42#issuecomment-1"})
            if parts[:1] == ["runs"] and len(parts) == 2 and int(parts[1]) in GH_RUNS:
                return self._send(200, GH_RUNS[int(parts[1])])
            if parts[:1] == ["runs"] and parts[2:] == ["jobs"] and int(parts[1]) in GH_JOBS:
                pages, page = GH_JOBS[int(parts[1])], int(q.get("page", 1))
                links = []
                if page < len(pages):
                    nxt = urllib.parse.urlencode({**q, "page": page + 1})
                    links = [("Link", f'<{fake.api_url}{self.path.split("?")[0]}?{nxt}>; rel="next", '
                                      f'<{fake.api_url}/x?page={len(pages)}>; rel="last"')]
                jobs = pages[page - 1]
                return self._send(200, {"total_count": sum(map(len, pages)), "jobs": jobs}, links)
            if parts == ["jobs", "16", "logs"]:
                return self._send(410, {"message": "Gone"})
            if parts[:1] == ["jobs"] and parts[2:] == ["logs"]:
                return self._send(302, headers=[("Location", f"{fake.storage_url}/logs/{parts[1]}?{SIGNATURE}")])
            if parts == ["workflows", "7", "runs"]:
                ok = q.get("status") == "success" and q.get("branch") == "main"
                return self._send(200, {"workflow_runs": [GH_RUNS[180], GH_RUNS[200]] if ok else []})
            self._send(404, {"message": "Not Found"})

        def _gitlab(self, method, p, q, body):
            parts = p.strip("/").split("/")
            if method == "POST" and parts == ["merge_requests", "7", "notes"]:
                fake.comments.append((self.path, body))
                return self._send(201, {"id": 5})
            if parts == ["pipelines", "900"]:
                return self._send(200, {"id": 900, "ref": "main", "sha": "feedbeef99", "web_url": "https://gl/p/900"})
            if parts == ["pipelines"]:
                ok = q.get("ref") == "main" and q.get("status") == "success"
                return self._send(200, [{"id": 880, "sha": "c0ffee0000", "web_url": "https://gl/p/880"}] if ok else [])
            if parts[:1] == ["pipelines"] and parts[2:] == ["jobs"]:
                table = GL_FAILED if q.get("scope[]") == "failed" else GL_SUCCESS if q.get("scope[]") == "success" else {}
                return self._send(200, table.get(int(parts[1]), []))
            if parts[:1] == ["jobs"] and parts[2:] == ["trace"]:
                return self._send(200, LOGS[int(parts[1])].encode())
            self._send(404, {"message": "404 Not found"})

    return Handler


@contextlib.contextmanager
def ci_host():
    """Yields a Fake whose `api_url` serves /repos/... (GitHub) and /api/v4/... (GitLab)."""
    fake = Fake()
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake, kind)) for kind in ("api", "storage")]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for t in threads:
        t.start()
    fake.api_url, fake.storage_url = (f"http://127.0.0.1:{s.server_address[1]}" for s in servers)
    try:
        yield fake
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()
