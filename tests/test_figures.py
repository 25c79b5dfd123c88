"""Every figure block in the READMEs is what `scripts/figures.py` generates from the committed result JSON."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "figures.py"
# What the blocks read, besides the documents: copied into a temporary repository to edit it safely.
INPUTS = ["benchmarks/results", "examples/ci-failures/compare", "examples/tickets/compare", "examples/ci-failures/data",
          "examples/gha-root-causes/compare", "examples/gha-root-causes/compare-lr4e-4",
          "examples/gha-root-causes/lr_check.json", "examples/gha-root-causes/rank_check.json",
          "examples/tickets/hparam_check.json",
          *(f"src/tunesmith/logs/adapter/{f}" for f in ("run-metrics.jsonl", "run-config.yaml", "tunesmith.json",
                                                       "category_prior.json", "category_prior.safetensors"))]


def figures(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--root", str(root), *args], capture_output=True, text=True,
                          timeout=120)


def copy_repo(tmp: Path) -> Path:
    for rel in ["README.md", "benchmarks/README.md", "docs/decisions.md", *(str(p.relative_to(ROOT)) for p in
                                                                         ROOT.glob("examples/*/README.md")), *INPUTS]:
        src, dst = ROOT / rel, tmp / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dst)
    return tmp


def test_repository_figures_match_their_json():
    r = figures(ROOT, "--check")
    assert r.returncode == 0, r.stderr


def test_a_figure_edited_by_hand_fails_the_check_and_the_script_restores_it(tmp_path):
    root = copy_repo(tmp_path)
    readme = root / "README.md"
    text = readme.read_text(encoding="utf-8")
    start = text.index("<!-- figures:analyzer-test -->")
    end = text.index("<!-- /figures:analyzer-test -->")
    assert "| 0.963 |" in text[start:end]  # the shipped analyzer's test accuracy, as its JSON gives it
    readme.write_text(text[:start] + text[start:end].replace("| 0.963 |", "| 0.970 |", 1) + text[end:], encoding="utf-8")

    r = figures(root, "--check")
    assert r.returncode == 1
    assert "README.md: block 'analyzer-test' differs from what its JSON gives" in r.stderr
    assert readme.read_text(encoding="utf-8") != text  # --check changes nothing

    assert figures(root).returncode == 0
    assert readme.read_text(encoding="utf-8") == text
    assert figures(root, "--check").returncode == 0


def test_a_changed_result_changes_every_block_that_reads_it(tmp_path):
    root = copy_repo(tmp_path)
    result = root / "benchmarks/results/batch_generate.json"
    result.write_text(result.read_text().replace('"one at a time": 25.86304711199773', '"one at a time": 30.0'))
    r = figures(root, "--check")
    assert r.returncode == 1
    assert "README.md: block 'batch-generate' differs" in r.stderr
    assert "benchmarks/README.md: block 'batch-generate' differs" in r.stderr
    figures(root)
    assert "30.0 s one at a time" in (root / "README.md").read_text(encoding="utf-8")


def test_an_unknown_block_name_is_reported(tmp_path):
    root = copy_repo(tmp_path)
    readme = root / "examples/tickets/README.md"
    readme.write_text(readme.read_text() + "\n<!-- figures:no-such-block -->\n<!-- /figures:no-such-block -->\n")
    r = figures(root, "--check")
    assert r.returncode == 1
    assert "block 'no-such-block' has no function" in r.stderr
