"""Training examples from the DEV splits of real CI logs: BugSwarm (labelled category) and LogChunks (labelled chunk).

The answer is written from the category and the evidence line found in the distilled excerpt itself, so every root
cause quotes text the model can see. Test-split cases are never opened: the split is checked before any log is read.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tunesmith.logs.categories import bugswarm_category, quote_form
from tunesmith.logs.distill import cue_weight

__all__ = ["RealCase", "bugswarm_dev", "logchunks_dev", "bugswarm_answer", "logchunks_answer", "classify_text", "read_log",
           "TEST_SPLIT_FILE", "source_hash", "hashed_test_split", "write_hashed_test_split"]

# Beside train.jsonl: every test-split case's source ("bugswarm:<id>", "logchunks:<id>"), hashed, one a line, so the
# leakage guard (tests/test_corpus.py) runs on a clone without the data sets, and the file lists no test case by name.
TEST_SPLIT_FILE = "test_split.sha256"


@dataclass
class RealCase:
    source: str  # "bugswarm:<id>" | "logchunks:<id>"
    log_path: Path
    category: str | None  # our id (BugSwarm: mapped label; LogChunks: None, classified from the chunk)
    chunk: str = ""
    keywords: tuple[str, ...] = ()


def _split(folder: Path) -> dict[str, str]:
    path = folder / "split.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise SystemExit(f"{path}: cannot read the dev/test split ({e})") from e


def source_hash(source: str) -> str:
    """The first 16 hex digits of sha256(source): 64 bits, no collision among a few thousand ids."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def hashed_test_split(shared: Path) -> list[str]:
    """Sorted hashes of the sources of every BugSwarm and LogChunks test-split case."""
    sources = [f"{kind}:{ident}" for kind, folder in (("bugswarm", "bugswarm_dissection"), ("logchunks", "logchunks"))
               for ident, split in _split(shared / folder).items() if split == "test"]
    return sorted(source_hash(s) for s in sources)


def write_hashed_test_split(shared: Path, out_dir: Path) -> Path:
    path = out_dir / TEST_SPLIT_FILE
    path.write_text("".join(h + "\n" for h in hashed_test_split(shared)))
    return path


def _jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    with path.open(encoding="utf-8") as f:
        for no, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield no, json.loads(line)
                except json.JSONDecodeError as e:
                    raise SystemExit(f"{path}:{no}: invalid JSON ({e.msg})") from e


def bugswarm_dev(shared: Path, skipped: dict[str, int]) -> Iterator[RealCase]:
    """Dev BugSwarm cases with a usable label; `skipped` counts the rest by reason."""
    folder = shared / "bugswarm_dissection"
    split = _split(folder)
    for no, r in _jsonl(folder / "bugswarm_sample.jsonl"):
        aid = r.get("artifact_id")
        if split.get(aid) != "dev":  # test (or unlisted) cases are never opened
            skipped["bugswarm: not in dev split"] = skipped.get("bugswarm: not in dev split", 0) + 1
            continue
        cat = bugswarm_category(r["failure_category"])
        if cat == "unknown":  # BugSwarm "Unknown" = unexplained failure, not "no failure": no honest answer to train on
            skipped["bugswarm: label Unknown"] = skipped.get("bugswarm: label Unknown", 0) + 1
            continue
        yield RealCase(f"bugswarm:{aid}", folder / r["failing_log"], cat)


def logchunks_dev(shared: Path, skipped: dict[str, int]) -> Iterator[RealCase]:
    folder = shared / "logchunks"
    split = _split(folder)
    for no, r in _jsonl(folder / "logchunks.jsonl"):
        if split.get(r.get("id")) != "dev":
            skipped["logchunks: not in dev split"] = skipped.get("logchunks: not in dev split", 0) + 1
            continue
        yield RealCase(f"logchunks:{r['id']}", folder / r["log_file"], None, r["failure_chunk"], tuple(r.get("keywords") or ()))


def read_log(path: Path) -> str:
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        return f.read()


# Lines that say "something failed" without saying what: never chosen as evidence.
_BOILERPLATE = re.compile(r"^\[(?:ERROR|INFO)\]\s*$|(?i:re-run maven|to see the full stack trace)|\[Help \d\]|"
                          r"For more information about the errors|After correcting the problems|mvn <goals>|"
                          r"BUILD FAILURE|BUILD FAILED|exited with \d|failed and exited|Done\. Your build|^\s*at |"
                          r"Please refer to|-> \[Help|^\[no failure found|COMPILATION ERROR\s*:?\s*$|"
                          r"^(?:\[\w+\]\s*)?\d+ (?:errors?|warnings?)\s*$|^Traceback \(most recent call last\):?\s*$")
# Category-specific evidence, tried in order before the generic strongest-cue line (patterns written from dev logs).
_EVIDENCE: dict[str, list[re.Pattern]] = {
    "test_failure": [re.compile(r"<<< (?:FAILURE|ERROR)!.*|^(?:FAIL|ERROR): test\w*|^FAILED \S+::|Tests in error|Failed tests"),
                     re.compile(r"AssertionError|ComparisonFailure|expected:?<|Exception:")],
    "build_error": [re.compile(r"\.(?:java|scala|kt|py|c|cpp|go|rs):\[?\d+.*(?:error|cannot find symbol)"), re.compile(r"error:")],
    "lint": [re.compile(r"\.(?:java|py|js|ts):\[?\d+.*(?:\[\w+\]|error|warning)|Checkstyle violation|\b[EFWC]\d{3}\b|clirr|Accessibility of")],
    "documentation": [re.compile(r"\.java:\d+: (?:error|warning)|javadoc|Javadoc|sphinx|WARNING:")],
    "license": [re.compile(r"(?i)license|Missing header|Unapproved|rat")],
    "dependency": [re.compile(r"No module named|Could not (?:resolve|find artifact|transfer)|ImportError|not found in|"
                              r"Could not find a version|cannot find module|package .* does not exist")],
    "infrastructure": [re.compile(r"(?i)clone|checkout|fatal:|git")],
}


def _clean_evidence(line: str) -> str:
    line = quote_form(line)
    return line[:220].rstrip() + ("…" if len(line) > 220 else "")


def _evidence(lines: list[str], category: str) -> str | None:
    candidates = [l for l in lines if l.strip() and not _BOILERPLATE.search(l)]
    for pat in _EVIDENCE.get(category, []):
        for l in candidates:
            if pat.search(l):
                return _clean_evidence(l)
    scored = [(cue_weight(l), -i, l) for i, l in enumerate(candidates) if cue_weight(l) >= 2.0]
    return _clean_evidence(max(scored)[2]) if scored else None


_ROOT = {
    "test_failure": ("A test failed: `{e}`.", "Reproduce the failing test locally, then fix the code it exercises (or its outdated expectation)."),
    "build_error": ("The project does not compile: `{e}`.", "Fix the compile error at the reported file and line, then rebuild locally before pushing."),
    "lint": ("A style/quality check failed: `{e}`.", "Fix the reported violation (or the check's configuration if it is a false positive) and re-run the check locally."),
    "documentation": ("Generating the documentation failed: `{e}`.", "Fix the documentation comment or page named in the error and rebuild the docs locally."),
    "license": ("The license check failed: `{e}`.", "Add the required license header (or approve the file/dependency in the license configuration)."),
    "dependency": ("A required dependency is missing or cannot be resolved: `{e}`.", "Declare the missing dependency with a resolvable version in the build file and reinstall dependencies."),
    "infrastructure": ("The job failed before the build could run: `{e}`.", "Re-run the job; if it persists, fix the repository URL/ref or the runner setup it depends on."),
    "configuration": ("The build is misconfigured: `{e}`.", "Fix the CI or build configuration the error points to."),
    "network": ("A network operation failed: `{e}`.", "Re-run the job; if it persists, check the host, its certificate and the runner's network access."),
    "resources": ("The job ran out of a resource: `{e}`.", "Reduce the job's memory/time use or give it a larger runner/timeout."),
    "auth": ("Access was denied: `{e}`.", "Provide valid credentials or permissions for the step (CI secrets, token scopes, file modes)."),
    "container": ("The container step failed: `{e}`.", "Fix the Dockerfile/container command the error names and rebuild the image locally."),
    "type_check": ("The type checker reported an error: `{e}`.", "Fix the type error at the reported location."),
}


def bugswarm_answer(category: str, excerpt_lines: list[str]) -> tuple[str, str] | None:
    """(root cause, fix) from the labelled category and the evidence in the excerpt, or None without evidence."""
    e = _evidence(excerpt_lines, category)
    if e is None:
        return None
    root, fix = _ROOT[category]
    return root.format(e=e.replace("`", "'")), fix.format(e=e.replace("`", "'"))


# Chunk -> category, first match wins (the order matters: a test runner's timeout is resources, not test_failure).
_RULES: list[tuple[str, re.Pattern]] = [
    ("network", re.compile(r"(?i)SSL connect|handshake failure|getaddrinfo|Could not resolve host|Connection (?:refused|reset)|"
                           r"rate limit|429 Too Many|Couldn't establish HTTP connection|Temporary failure in name resolution|Read timed out|ECONNRESET")),
    ("resources", re.compile(r"(?i)process timed out|No output has been received|out of memory|No space left|"
                             r"\bKilled\b|exit(?:ed with)? 137|exceeded the maximum (?:execution )?time|timeout of \d+ms")),
    ("auth", re.compile(r"(?i)permission denied|\b40[13]\b.*(?:Forbidden|Unauthorized)|access denied|authentication (?:failed|required)")),
    ("license", re.compile(r"(?i)\blicen[cs]e\b")),
    ("dependency", re.compile(r"(?i)PackagesNotFoundError|Could not (?:find|resolve|transfer) artifact|Could not resolve dependencies|"
                              r"No matching distribution|No module named|Cannot find module|compatible versions for pod|"
                              r"version solving failed|ERESOLVE|unable to resolve dependency|Unable to find a specification|"
                              r"LoadError|cannot load such file|package .* is not available|there is no package called|"
                              r"requested package .* exists as|can't find crate")),
    ("documentation", re.compile(r"(?i)javadoc|sphinx|\bdoxygen|Issues :-\(|> Links|broken link|make docs|LaTeX Warning|"
                                 r"Overfull \\hbox|REF_NOT_FOUND")),
    ("type_check", re.compile(r"\berror TS\d{4}\b|\bmypy\b|Incompatible types|\[(?:arg-type|return-value|union-attr)\]")),
    ("lint", re.compile(r"(?i)\bMD\d{3}/|checkstyle|rubocop|eslint|flake8|pylint|\bno-[a-z-]+$|is not being used|"
                        r"Inconsistent indentation|offen[cs]es? detected|\bis unused\b|would reformat|trailing whitespace|"
                        r"appears to be used|\(no-[a-z-]+\)|\b[EFW]\d{3}\b|coding standard|clang-format|gofmt|\bstyle\b")),
    ("container", re.compile(r"(?i)docker|container_linux|Dockerfile")),
    ("configuration", re.compile(r"(?i)No Rakefile found|command not found|No such file or directory|not found in \$PATH|"
                                 r"Unrecognized option|unknown option|is not defined in|environment variable|Unable to find a destination")),
    ("test_failure", re.compile(r"\bFAIL(?:ED|URE)?\b|<<< (?:FAILURE|ERROR)!|AssertionError|Assertion|\bassert|Failures?:|"
                                r"\bnot ok\b|(?m:^\s*\d+\)\s)|\[-\]|\bExpected\b|\bspec\b|(?i:\btests?\b)|✖|failing|panicked at")),
    ("build_error", re.compile(r"(?i)error(?:\[E\d+\])?:|cannot find symbol|undefined reference|SyntaxError|compil|"
                               r"\bundefined\b|unknown attribute|\berror\b")),
]


def classify_text(text: str) -> str | None:
    for cat, pat in _RULES:
        if pat.search(text):
            return cat
    return None


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _norm(s: str) -> str:
    return " ".join(_ANSI.sub("", s).replace("\r", " ").split())


def logchunks_answer(case: RealCase, excerpt_lines: list[str]) -> tuple[str, str, str] | str:
    """(category, root cause, fix) quoting the chunk's key line, or the reason the case is unusable."""
    chunk_lines = [_norm(l) for l in case.chunk.splitlines()]
    chunk_lines = [l for l in chunk_lines if l]
    if not chunk_lines:
        return "logchunks: empty chunk"
    category = classify_text("\n".join(chunk_lines))
    if category is None:
        return "logchunks: chunk matches no category rule"
    # The key line: the chunk line with the annotator's keyword and the strongest failure cue.
    kws = [k.lower() for k in case.keywords if k.strip()]
    ranked = sorted(range(len(chunk_lines)), key=lambda i: (-any(k in chunk_lines[i].lower() for k in kws),
                                                            -cue_weight(chunk_lines[i]), i))
    key = chunk_lines[ranked[0]]
    seen = {_norm(l) for l in excerpt_lines}
    if key not in seen and not any(key in s for s in seen):
        return "logchunks: key line not in the excerpt"
    e = _clean_evidence(key).replace("`", "'")
    root, fix = _ROOT[category]
    return category, root.format(e=e), fix.format(e=e)
