"""The front door: one table of verbs, each listed by `tunesmith --help` with its one line, and `--version`."""

from typer.testing import CliRunner

from tunesmith import __version__
from tunesmith.cli import app

VERBS = ["data", "models", "train", "generate", "eval", "compare", "analyze", "logs", "serve", "ci-report", "ci-fetch",
         "export"]


def test_help_lists_every_verb():
    out = CliRunner().invoke(app, ["--help"], terminal_width=200).output
    for verb in VERBS:
        assert f" {verb} " in out, verb


def test_every_verb_has_its_own_help():
    for verb in VERBS:
        r = CliRunner().invoke(app, [verb, "--help"])
        assert r.exit_code == 0, (verb, r.output)


def test_version():
    r = CliRunner().invoke(app, ["--version"])
    assert r.exit_code == 0 and __version__ in r.output


def test_help_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys; from tunesmith.cli import app; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
