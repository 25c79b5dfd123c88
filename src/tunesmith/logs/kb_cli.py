"""`tunesmith logs kb ...`: the failure knowledge base the analyzer retrieves from: check it, list it, see what fits a
log, and add a project's own past incidents (one from a log and the fix applied, or many from a JSONL file).

Entries are written to the project's knowledge base (`.tunesmith/kb.jsonl`, which `tunesmith analyze` reads from the
working directory) or to `--kb FILE`; a file is rewritten whole (temp file, then rename), never half-written.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True, help="The failure knowledge base the analyzer retrieves from.")

KB_OPTION = typer.Option(None, "--kb", help="Knowledge-base file (default: .tunesmith/kb.jsonl in this directory).")


def _target(kb: Path | None) -> Path:
    from tunesmith.logs.kb import PROJECT_KB

    return kb or PROJECT_KB


def _report(problems) -> None:
    for p in problems:
        typer.echo(str(p), err=True)


def _existing(path: Path) -> list[dict]:
    """The file's entries as they are; a file with bad lines is refused (rewriting it would drop them)."""
    from tunesmith.logs.kb import read_entries

    if not path.exists():
        return []
    entries, problems = read_entries(path)
    if problems:
        _report(problems)
        typer.echo(f"error: {path} has {len(problems)} bad line(s); fix them before adding entries", err=True)
        raise typer.Exit(1)
    return [e.to_json() for e in entries]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:48] or "incident"


def incident(log_text: str, fix: str, cause: str | None, category: str | None, title: str | None, source: str,
             ident: str | None, taken: set[str]) -> tuple[dict | None, str | None]:
    """A knowledge-base record for a past incident: the log's failure lines (redacted) are what it is matched by."""
    from tunesmith.logs.analyze import failure_line
    from tunesmith.logs.categories import parse_category
    from tunesmith.logs.distill import distill
    from tunesmith.logs.kb import KnowledgeBase
    from tunesmith.logs.redact import redact

    # The fix, cause and title are typed or imported alongside the log: a credential pasted into them is redacted too,
    # since the file is meant to be committed with the project.
    fix, cause, title = (redact(t) if isinstance(t, str) else t for t in (fix, cause, title))
    excerpt = distill(log_text, budget=256, count_tokens=lambda s: len(s) // 4 + 1)
    if not excerpt.found:
        return None, "the log has no failure line (error, exception, exit code) to recognise the incident by"
    texts = dict(excerpt.lines)
    examples = [texts[n].strip() for n in excerpt.failure_lines[-5:] if texts.get(n, "").strip()]
    key = failure_line(excerpt)
    if category is None:  # the built-in entry that fits the log, if one does
        matches = KnowledgeBase.load().match(excerpt.lines)
        category = matches[0].entry.category if matches else None
    elif parse_category(category) is None:
        return None, f"unknown category {category!r}"
    else:
        category = parse_category(category)
    if category is None:
        return None, "no category given and none of the built-in entries fits this log: pass --category"
    name = ident or _slug(title or (key[1] if key else "incident"))
    base, n = name, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    record = {"id": name, "category": category, "title": title or (key[1].strip()[:80] if key else ""),
              "cause": cause or f"The same failure as a past incident: `{key[1].strip()[:200]}`." if key else cause,
              "fix": fix, "examples": examples, "source": source}
    return {k: v for k, v in record.items() if v}, None


@app.command()
def check(files: list[Path] = typer.Argument(..., help="Knowledge-base JSONL files.")) -> None:
    """Check knowledge-base files: every bad line is reported as FILE:LINE; exit 1 if any."""
    from tunesmith.logs.kb import read_entries

    bad = 0
    for f in files:
        entries, problems = read_entries(f)
        _report(problems)
        bad += len(problems)
        typer.echo(f"{f}: {len(entries)} entries, {len(problems)} bad line(s)")
    raise typer.Exit(1 if bad else 0)


@app.command("list")
def list_entries(kb: list[Path] = typer.Option([], "--kb", help="Extra knowledge-base files (after the built-in one)."),
                 builtin: bool = typer.Option(True, "--builtin/--no-builtin", help="Include the built-in entries.")) -> None:
    """List the entries the analyzer retrieves from: id, category, title."""
    from tunesmith.logs.kb import KnowledgeBase

    base = KnowledgeBase.load(kb, builtin=builtin)
    _report(base.problems)
    for e in base.entries:
        typer.echo(f"{e.id}\t{e.category}\t{e.title}")


@app.command()
def match(log: str = typer.Argument(..., help="A log file, or - for stdin."),
          kb: list[Path] = typer.Option([], "--kb", help="Extra knowledge-base files (after the built-in one).")) -> None:
    """Which entries fit LOG, and what each would answer (no model is loaded)."""
    from tunesmith.logs.distill import distill
    from tunesmith.logs.kb import KnowledgeBase

    text = sys.stdin.read() if log == "-" else _read(Path(log))
    base = KnowledgeBase.load(kb)
    _report(base.problems)
    excerpt = distill(text, budget=1024, count_tokens=lambda s: len(s) // 4 + 1)
    found = base.match(excerpt.lines)
    if not found:
        typer.echo("no entry fits this log")
    for m in found:
        typer.echo(f"{m.entry.id} ({m.how}, line {m.line}): {m.cause}\n  fix: {m.fix}")


def _read(path: Path) -> str:
    if not path.is_file():
        raise typer.BadParameter(f"{path}: no such file")
    return path.read_bytes().decode("utf-8", errors="replace")


@app.command()
def add(
    log: str = typer.Argument(..., help="The failed job's log (a file, or - for stdin)."),
    fix: str = typer.Option(..., "--fix", help="The fix that was applied."),
    cause: str = typer.Option(None, "--cause", help="What the root cause was (default: the log's failure line)."),
    category: str = typer.Option(None, "--category", help="Category (default: the built-in entry's that fits the log)."),
    title: str = typer.Option(None, "--title", help="A one-line title."),
    ident: str = typer.Option(None, "--id", help="Entry id (default: from the title or the failure line)."),
    kb: Path = KB_OPTION,
) -> None:
    """Add a past incident: the next log that repeats its failure line is answered with its cause and fix."""
    from tunesmith.atomic import write_jsonl

    path = _target(kb)
    records = _existing(path)
    text = sys.stdin.read() if log == "-" else _read(Path(log))
    record, why = incident(text, fix, cause, category, title, "" if log == "-" else str(log), ident,
                           {r["id"] for r in records})
    if record is None:
        typer.echo(f"error: {log}: {why}", err=True)
        raise typer.Exit(1)
    write_jsonl(path, [*records, record])
    typer.echo(f"added {record['id']} ({record['category']}) to {path}")


@app.command("import")
def import_incidents(
    data: Path = typer.Argument(..., help="JSONL of past failures: {\"log\": ..., \"fix\": ..., optional \"cause\", "
                                "\"category\", \"title\", \"id\", \"source\"}."),
    kb: Path = KB_OPTION,
) -> None:
    """Import past failures with their fixes. Every bad line is reported by number and nothing is written until the
    whole file is good."""
    from tunesmith.atomic import write_jsonl

    path = _target(kb)
    records = _existing(path)
    taken = {r["id"] for r in records}
    new, bad = [], 0
    for no, line in enumerate(_read(data).split("\n"), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            typer.echo(f"{data}:{no}: error: malformed JSON: {e.msg} (column {e.colno})", err=True)
            bad += 1
            continue
        if not isinstance(obj, dict) or not all(isinstance(obj.get(k), str) and obj[k].strip() for k in ("log", "fix")):
            typer.echo(f"{data}:{no}: error: needs \"log\" and \"fix\" strings", err=True)
            bad += 1
            continue
        record, why = incident(obj["log"], obj["fix"], obj.get("cause"), obj.get("category"), obj.get("title"),
                               obj.get("source") or f"{data}:{no}", obj.get("id"), taken)
        if record is None:
            typer.echo(f"{data}:{no}: error: {why}", err=True)
            bad += 1
        else:
            new.append(record)
    if bad:
        typer.echo(f"error: {bad} bad line(s) in {data}; nothing was written to {path}", err=True)
        raise typer.Exit(1)
    write_jsonl(path, [*records, *new])
    typer.echo(f"imported {len(new)} incidents into {path}")
