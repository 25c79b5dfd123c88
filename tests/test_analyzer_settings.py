"""The analyzer's settings are defined once (tunesmith.logs.settings): `analyze`, `serve`, `ci-report` and `logs distill`
offer the same options with the same defaults and help, and each hands them to the Analyzer unchanged."""

from __future__ import annotations

import inspect

import pytest
from serve_fakes import FAILING_LOG, ScriptedGenerator
from typer.main import get_command
from typer.testing import CliRunner

import tunesmith.logs.analyze as analyze_mod
from tunesmith.cli import app
from tunesmith.logs.distill import distill
from tunesmith.logs.settings import DEFAULTS

ANALYZER_OPTIONS = {"budget": DEFAULTS.budget, "max_new_tokens": DEFAULTS.max_new_tokens, "prior": DEFAULTS.prior,
                    "prior_weight": DEFAULTS.prior_weight, "use_kb": DEFAULTS.use_kb, "kb": []}
COMMANDS = {"analyze": ("analyze",), "serve": ("serve",), "ci-report": ("ci-report",), "ci-fetch": ("ci-fetch",)}


def _params(*path: str) -> dict:
    cmd = get_command(app)
    for name in path:
        cmd = cmd.commands[name]
    return {p.name: p for p in cmd.params}


def test_every_command_offers_the_same_options_with_the_same_defaults():
    seen = {}
    for path in COMMANDS.values():
        params = _params(*path)
        for name, default in ANALYZER_OPTIONS.items():
            p = params[name]
            assert (p.default or []) == default if name == "kb" else p.default == default, (path, name)
            assert seen.setdefault(name, (p.opts, p.secondary_opts, p.help)) == (p.opts, p.secondary_opts, p.help)
    budget = _params("logs", "distill")["budget"]
    assert budget.default == DEFAULTS.budget and budget.help == seen["budget"][2]


def test_the_library_defaults_are_the_same_settings():
    sig = inspect.signature(analyze_mod.Analyzer)
    assert sig.parameters["budget"].default == DEFAULTS.budget
    assert sig.parameters["max_new_tokens"].default == DEFAULTS.max_new_tokens
    assert sig.parameters["prior_weight"].default == DEFAULTS.prior_weight
    assert inspect.signature(distill).parameters["budget"].default == DEFAULTS.budget
    analyzer = analyze_mod.Analyzer(generator=ScriptedGenerator(), kb=False)
    assert analyzer.budget == DEFAULTS.budget and analyzer.prior_weight == DEFAULTS.prior_weight


SET = ["--budget", "300", "--max-new-tokens", "50", "--no-prior", "--prior-weight", "3", "--no-kb"]


@pytest.fixture()
def recorded(monkeypatch):
    """The keyword arguments each Analyzer is built with; the Analyzer itself runs over a scripted generator."""
    calls: list[dict] = []
    real_init = analyze_mod.Analyzer.__init__

    def init(self, run=None, **kw):
        calls.append(kw)
        real_init(self, generator=ScriptedGenerator(), kb=False)

    monkeypatch.setattr(analyze_mod.Analyzer, "__init__", init)
    return calls


def _expect(kw: dict) -> None:
    assert kw["budget"] == 300 and kw["max_new_tokens"] == 50 and kw["prior"] is False
    assert kw["prior_weight"] == 3.0 and kw["kb"] is False


@pytest.mark.parametrize("command", ["analyze", "ci-report"])
def test_analyze_and_ci_report_pass_the_settings_on(command, recorded, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "b.log").write_text(FAILING_LOG)
    r = CliRunner().invoke(app, [command, "b.log", *SET], env={"GITHUB_STEP_SUMMARY": ""})
    assert r.exit_code == 0, r.output
    assert "Category: Dependency" in r.stdout or "Category: dependency" in r.stdout
    (kw,) = recorded
    _expect(kw)


def test_serve_passes_the_settings_on(recorded, monkeypatch):
    import tunesmith.serve.runner as runner

    served = []
    monkeypatch.setattr(runner, "run", lambda app_, host, port: served.append((host, port)))
    r = CliRunner().invoke(app, ["serve", "--port", "8123", *SET], env={"TUNESMITH_API_KEY": ""})
    assert r.exit_code == 0, r.output
    assert served == [("127.0.0.1", 8123)]
    (kw,) = recorded
    _expect(kw)
