"""The failure knowledge base: what a failure's signature means and how to fix it, retrieved for the analyzer.

Knowledge through retrieval, behaviour through fine-tuning: a 135M model cannot know why `npm ci` refuses a lockfile,
but an entry written from npm's documentation can, and it stays right when the model does not. An entry is one JSONL
line (`Entry`): signatures (regexes searched in each log line, named groups capture the entity the answer names), a
cause and a fix with `{group|default words}` placeholders, the category, and its source. Entries a user adds from a past
incident (`tunesmith logs kb add`) carry the incident's failure lines instead of signatures; they are matched by BM25
(bm25s) and applied only when the log's line is the incident's line up to numbers, paths and names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tunesmith.logs.categories import BY_ID

BUILTIN = Path(__file__).parent / "kb" / "builtin.jsonl"
# The knowledge base a project keeps beside its code (`tunesmith logs kb add` writes here by default).
PROJECT_KB = Path(".tunesmith") / "kb.jsonl"
REQUIRED = ("id", "category", "cause", "fix")
_PLACEHOLDER = re.compile(r"\{(\w+)(?:\|([^{}]*))?\}")
_WORD = re.compile(r"[A-Za-z][\w.+-]*[A-Za-z0-9]|[A-Za-z]")
# What varies between two occurrences of the same failure: numbers, hex ids, quoted names, paths.
_VARIABLE = re.compile(r"0x[0-9a-f]+|\b[0-9a-f]{7,}\b|\d+(?:\.\d+)*|'[^']*'|\"[^\"]*\"|`[^`]*`|(?:[\w.-]*/)+[\w.-]+", re.I)


@dataclass
class Problem:
    source: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: error: {self.message}"


@dataclass
class Entry:
    id: str
    category: str
    cause: str
    fix: str
    title: str = ""
    signatures: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)  # log lines the entry was written for (the incident's lines)
    source: str = ""  # documentation or thread URL, or the incident's log file
    kind: str | None = None
    origin: str = ""  # "file:line" the entry was read from
    patterns: list[re.Pattern] = field(default_factory=list, repr=False, compare=False)

    def to_json(self) -> dict:
        d = asdict(self)
        for k in ("origin", "patterns"):
            d.pop(k)
        return {k: v for k, v in d.items() if v not in (None, "", [])}


@dataclass
class Match:
    """One entry that fits the log: `line`/`text` is the log line it fits, `groups` the entities captured there."""

    entry: Entry
    line: int
    text: str
    how: str  # "signature" (a regex matched) or "incident" (the log repeats a past incident's line)
    score: float
    groups: dict[str, str] = field(default_factory=dict)

    @property
    def cause(self) -> str:
        return fill(self.entry.cause, self.groups)

    @property
    def fix(self) -> str:
        return fill(self.entry.fix, self.groups)

    def to_dict(self) -> dict:
        return {"id": self.entry.id, "title": self.entry.title, "source": self.entry.source, "line": self.line,
                "how": self.how, "entities": self.groups}


def fill(template: str, groups: dict[str, str]) -> str:
    """`{name|default words}` -> the captured entity, else the default words (else the name in plain words)."""
    return _PLACEHOLDER.sub(lambda m: groups.get(m.group(1)) or (m.group(2) if m.group(2) is not None
                                                                  else m.group(1).replace("_", " ")), template)


def parse_entry(obj, origin: str) -> tuple[Entry | None, str | None]:
    """(entry, None) or (None, what is wrong with it)."""
    if not isinstance(obj, dict):
        return None, "an entry must be a JSON object"
    missing = [k for k in REQUIRED if not isinstance(obj.get(k), str) or not obj.get(k).strip()]
    if missing:
        return None, f"missing or empty: {', '.join(missing)}"
    if obj["category"] not in BY_ID:
        return None, f"unknown category {obj['category']!r} (one of: {', '.join(BY_ID)})"
    for key in ("signatures", "examples"):
        if not isinstance(obj.get(key, []), list) or not all(isinstance(s, str) for s in obj.get(key, [])):
            return None, f"{key} must be a list of strings"
    for key in ("title", "source", "kind"):
        if obj.get(key) is not None and not isinstance(obj[key], str):
            return None, f"{key} must be a string"
    if not obj.get("signatures") and not obj.get("examples"):
        return None, "an entry needs signatures (regexes) or examples (the incident's log lines) to be matched by"
    patterns = []
    for s in obj.get("signatures", []):
        try:
            patterns.append(re.compile(s, re.IGNORECASE))
        except re.error as e:
            return None, f"signature {s!r} is not a valid regex: {e}"
        except (RecursionError, OverflowError):  # nesting or a repeat count beyond what `re` can compile
            return None, f"signature {s[:60]!r}… is too deeply nested or repeats too many times to compile"
    known = {g for p in patterns for g in p.groupindex}
    for text in (obj["cause"], obj["fix"]):
        for m in _PLACEHOLDER.finditer(text):
            if m.group(1) not in known and m.group(2) is None:
                return None, f"placeholder {{{m.group(1)}}} names no signature group and has no default ({{name|words}})"
    entry = Entry(id=obj["id"], category=obj["category"], cause=obj["cause"], fix=obj["fix"], title=obj.get("title", ""),
                  signatures=list(obj.get("signatures", [])), examples=list(obj.get("examples", [])),
                  source=obj.get("source", ""), kind=obj.get("kind"), origin=origin, patterns=patterns)
    return entry, None


def read_entries(path: str | Path) -> tuple[list[Entry], list[Problem]]:
    """Every valid entry of a JSONL file, and every bad line reported by number (blank lines are skipped)."""
    path = Path(path)
    entries: list[Entry] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    try:
        raw = path.read_bytes()
    except OSError as e:
        return [], [Problem(str(path), 0, f"cannot read: {e.strerror or e}")]
    if raw.startswith(b"\xef\xbb\xbf"):  # a byte-order mark, as some Windows editors write: not part of line 1
        raw = raw[3:]
    for no, line in enumerate(raw.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line.decode("utf-8"))
        except RecursionError:
            problems.append(Problem(str(path), no, "malformed JSON: nested too deeply"))
            continue
        except UnicodeDecodeError:
            problems.append(Problem(str(path), no, "not UTF-8 text"))
            continue
        except json.JSONDecodeError as e:
            problems.append(Problem(str(path), no, f"malformed JSON: {e.msg} (column {e.colno})"))
            continue
        entry, why = parse_entry(obj, f"{path}:{no}")
        if entry is None:
            problems.append(Problem(str(path), no, why))
        elif entry.id in seen:
            problems.append(Problem(str(path), no, f"duplicate id {entry.id!r} (first on line {seen[entry.id]})"))
        else:
            seen[entry.id] = no
            entries.append(entry)
    return entries, problems


def shape(text: str) -> list[str]:
    """A line's words with what varies between occurrences (numbers, paths, quoted names) taken out."""
    return [w.lower() for w in _WORD.findall(_VARIABLE.sub(" ", text))]


class KnowledgeBase:
    """Entries from one or more files; `match(lines)` -> the entries that fit a log, best first."""

    # An incident entry applies when the log has a line of the same shape as one of the incident's lines: at least
    # this share of the words of the longer line in common once numbers, paths and names are taken out.
    INCIDENT_OVERLAP = 0.8

    def __init__(self, entries: Iterable[Entry] = (), problems: Iterable[Problem] = ()):
        self.entries = list(entries)
        self.problems = list(problems)
        self._bm25 = None  # BM25 indexes, built on first use (most logs match a signature and need none)
        self._bm25_all = None

    @classmethod
    def load(cls, paths: Iterable[str | Path] = (), builtin: bool = True, exclude_kinds: Iterable[str] = ()) -> "KnowledgeBase":
        """The built-in entries (unless `builtin=False`), then each file in `paths`; a later file's entry replaces an
        earlier one with the same id, so a project can correct a built-in entry. Bad lines are in `.problems`."""
        files = ([BUILTIN] if builtin and BUILTIN.exists() else []) + [Path(p) for p in paths]
        by_id: dict[str, Entry] = {}
        problems: list[Problem] = []
        drop = set(exclude_kinds)
        for f in files:
            entries, bad = read_entries(f)
            problems += bad
            for e in entries:
                if e.kind not in drop:
                    by_id[e.id] = e
        return cls(by_id.values(), problems)

    def __len__(self) -> int:
        return len(self.entries)

    def match(self, lines: Iterable[tuple[int, str]], limit: int = 3) -> list[Match]:
        """Entries whose signature matches a line, or whose incident line the log repeats; best first.

        A signature match scores by how much of the line it explains (a longer matched span is a more specific
        entry) and by how late the line is (the failure that ended the job is near the end); one match per entry.
        """
        lines = [(no, text) for no, text in lines if text.strip()]
        found: dict[str, Match] = {}
        n = max(len(lines), 1)
        for pos, (no, text) in enumerate(lines):
            for e in self.entries:
                for p in e.patterns:
                    m = p.search(text)
                    if not m:
                        continue
                    score = len(m.group(0)) + 5 * pos / n
                    groups = {k: v.strip() for k, v in m.groupdict().items() if v and v.strip()}
                    if e.id not in found or score > found[e.id].score:
                        found[e.id] = Match(e, no, text, "signature", score, groups)
        for match in self._incidents(lines):
            if match.entry.id not in found:
                found[match.entry.id] = match
        return sorted(found.values(), key=lambda m: -m.score)[:limit]

    def _incidents(self, lines: list[tuple[int, str]]) -> list[Match]:
        """Past incidents whose failure line the log repeats (same shape), found among BM25's nearest entries."""
        incidents = [e for e in self.entries if not e.patterns and e.examples]
        if not incidents or not lines:
            return []
        import bm25s

        if self._bm25 is None:
            self._bm25 = bm25s.BM25()
            self._bm25.index([shape(" ".join(e.examples)) or ["-"] for e in incidents], show_progress=False)
        query = [w for _, t in lines for w in shape(t)]
        if not query:  # a log of numbers and punctuation only: nothing to rank by (and no scores to index)
            return []
        scores = self._bm25.get_scores(query)
        out = []
        for i in sorted(range(len(incidents)), key=lambda i: -scores[i])[:5]:
            if scores[i] <= 0:
                break
            e = incidents[i]
            best = max(((overlap(shape(x), shape(t)), no, t, x) for x in e.examples for no, t in lines),
                       default=(0, 0, "", ""))
            if best[0] >= self.INCIDENT_OVERLAP and same_subject(e, best[3], best[2]):
                out.append(Match(e, best[1], best[2], "incident", 100 * best[0] + float(scores[i])))
        return out

    def similar(self, lines: Iterable[tuple[int, str]], limit: int = 3) -> list[Entry]:
        """The entries nearest to the log by BM25 over their titles, examples and causes: related reading, never
        applied as the answer (nothing checked that they fit)."""
        import bm25s

        if not self.entries:
            return []
        if self._bm25_all is None:
            self._bm25_all = bm25s.BM25()
            self._bm25_all.index([shape(" ".join([e.title, e.cause, *e.examples])) or ["-"] for e in self.entries],
                                 show_progress=False)
        query = [w for _, t in lines for w in shape(t)]
        if not query:
            return []
        scores = self._bm25_all.get_scores(query)
        order = sorted(range(len(self.entries)), key=lambda i: -scores[i])
        return [self.entries[i] for i in order[:limit] if scores[i] > 0]


def same_subject(entry: Entry, incident_line: str, log_line: str) -> bool:
    """False when the incident's fix names something (a package, file, version) that its log line had and this log's
    line has not: "No module named 'requests'" fixed by adding requests is the wrong fix for "No module named 'numpy'"."""
    answer = (entry.cause + " " + entry.fix).lower()
    for m in _VARIABLE.finditer(incident_line):
        value = m.group(0).strip("'\"`").lower()
        if len(value) >= 3 and not value.replace(".", "").isdigit() and value in answer and value not in log_line.lower():
            return False
    return True


def overlap(a: list[str], b: list[str]) -> float:
    """Share of the longer word list's words that the other has (as multisets)."""
    if not a or not b:
        return 0.0
    from collections import Counter

    common = sum((Counter(a) & Counter(b)).values())
    return common / max(len(a), len(b))


__all__ = ["BUILTIN", "PROJECT_KB", "Entry", "KnowledgeBase", "Match", "Problem", "fill", "overlap", "parse_entry",
           "read_entries", "shape"]
