"""The stage order of docs/CONTRACTS.md, enforced on the source: `data → models → train → evaluate → logs → serve →
export`, a module imports only from its own stage and the stages before it, never after.

Read from the source with `ast`, so an import inside a function (the CLIs import heavy libraries lazily) or under
`TYPE_CHECKING` counts as much as one at the top. Two more rules of the same contract:
- a stage's `cli.py` is a composition layer: only the top-level `tunesmith.cli` imports it, no other stage borrows from it;
- the exporter is generic: its library modules know run dirs, not the recipes trained into them (no `logs` import);
  what a recipe keeps beside its model is named by `export/cli.py`, the composition layer.
Modules at the package root (`atomic`, `output`) belong to no stage and are for everyone.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "tunesmith"
CONTRACTS = Path(__file__).resolve().parents[1] / "docs" / "CONTRACTS.md"
STAGES = ["data", "models", "train", "evaluate", "logs", "serve", "export"]
GENERIC_EXPORT_MAY_NOT_IMPORT = {"logs"}


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) of every tunesmith import in `path`; `from tunesmith.x import y` gives `tunesmith.x.y`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "tunesmith"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "tunesmith":
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            raise AssertionError(f"{path}:{node.lineno}: relative import; the stage rule reads absolute ones")
    return found


def _stage_modules():
    for stage in STAGES:
        for path in sorted((SRC / stage).rglob("*.py")):
            yield stage, path


def violations() -> list[str]:
    bad = []
    for stage, path in _stage_modules():
        where = path.relative_to(SRC.parent)
        for line, name in _imports(path):
            parts = name.split(".")
            target = parts[1] if len(parts) > 1 else None
            if target in ("cli", "__main__"):
                bad.append(f"{where}:{line}: imports {name}: the top-level CLI composes the stages, no stage imports it")
            if target not in STAGES:
                continue  # the package root (`tunesmith.__version__`, `tunesmith.atomic`, ...): no stage
            if STAGES.index(target) > STAGES.index(stage):
                bad.append(f"{where}:{line}: {stage} imports {name} from the later stage {target}")
            if target != stage and len(parts) > 2 and parts[2] == "cli":
                bad.append(f"{where}:{line}: imports {name}: another stage's cli.py is a composition layer, not a library")
            if stage == "export" and path.name != "cli.py" and target in GENERIC_EXPORT_MAY_NOT_IMPORT:
                bad.append(f"{where}:{line}: the generic exporter imports {name}; let export/cli.py name recipe files")
    return bad


def test_contracts_state_the_order_this_test_enforces():
    order = re.search(r"Stages: `([^`]+)`", CONTRACTS.read_text(encoding="utf-8"))
    assert order is not None and [s.strip() for s in order.group(1).split("→")] == STAGES
    assert sorted(p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()) == sorted(STAGES)


def test_no_module_imports_a_later_stage():
    assert violations() == []


def test_the_check_catches_what_it_forbids(tmp_path, monkeypatch):
    """The rule is not vacuous: a copy of the tree with today's fixed violations put back is caught on each."""
    import shutil

    tree = tmp_path / "tunesmith"
    shutil.copytree(SRC, tree, ignore=shutil.ignore_patterns("__pycache__", "adapter", "*.safetensors"))
    (tree / "data" / "bad_later.py").write_text("def f():\n    from tunesmith.models import load_tokenizer\n")
    (tree / "logs" / "bad_cli.py").write_text("from tunesmith.data.cli import app\n")
    (tree / "export" / "bad_recipe.py").write_text("from tunesmith.logs.prior import PRIOR_FILES\n")
    (tree / "serve" / "bad_root.py").write_text("import tunesmith.cli\n")
    monkeypatch.setitem(globals(), "SRC", tree)
    found = "\n".join(violations())
    assert "data/bad_later.py:2: data imports tunesmith.models.load_tokenizer from the later stage models" in found
    assert "logs/bad_cli.py:1: imports tunesmith.data.cli.app: another stage's cli.py" in found
    assert "export/bad_recipe.py:1: the generic exporter imports tunesmith.logs.prior.PRIOR_FILES" in found
    assert "serve/bad_root.py:1: imports tunesmith.cli" in found
    assert len(found.splitlines()) == 4
