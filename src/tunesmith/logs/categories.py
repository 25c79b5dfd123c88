"""The fixed taxonomy of CI failures the analyzer answers with, and the mappings from published taxonomies onto it.

`parse_category` turns a model's free-text `Category:` line (or any synonym) back into a stable id, so answers can be scored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    id: str  # stable: stored in datasets and metrics, never renamed
    name: str  # what the answer's `Category:` line says
    description: str


CATEGORIES: tuple[Category, ...] = (
    Category("test_failure", "test failure", "A test, assertion or test-runner check failed (pytest, JUnit, jest, go test, rspec)."),
    Category("build_error", "build error", "The code does not compile or the build tool fails on the project's own sources."),
    Category("dependency", "dependency", "A package or library cannot be resolved, is missing, or its versions conflict."),
    Category("lint", "lint", "A linter, formatter, style or static quality check reported violations."),
    Category("type_check", "type check", "A static type checker (mypy, tsc --noEmit, pyright) reported type errors."),
    Category("documentation", "documentation", "Building the documentation failed (sphinx -W, javadoc, mkdocs --strict)."),
    Category("license", "license", "A license header or license-compliance check failed."),
    Category("configuration", "configuration", "Bad CI/project configuration or environment: missing env var or secret, invalid YAML, wrong path."),
    Category("container", "container", "Building or running a container failed (Dockerfile step, COPY context, Kubernetes pod)."),
    Category("network", "network", "Network or registry trouble: DNS, TLS, connection reset, download failure, rate limit."),
    Category("auth", "auth", "Authentication or permission denied: bad credentials, 401/403, file permissions."),
    Category("resources", "resources", "The job ran out of a resource: memory (OOM, exit 137), disk (ENOSPC) or time (timeout)."),
    Category("infrastructure", "infrastructure", "The runner or toolchain failed: lost runner, wrong tool version, checkout/submodule failure."),
    Category("unknown", "unknown", "No failure found in the log, or not enough evidence to say what failed."),
)

BY_ID: dict[str, Category] = {c.id: c for c in CATEGORIES}
IDS: tuple[str, ...] = tuple(BY_ID)

# BugSwarm dissection (Durieux & Abreu 2019) `failure_category` -> ours. Keys exactly as in category.json (note the double
# space in "Compare  version"); `bugswarm_category` also accepts the single-spaced spelling.
BUGSWARM_MAP: dict[str, str] = {
    "Test": "test_failure",
    "Checkstyle": "lint",
    "Compilation": "build_error",
    "Documentation": "documentation",  # javadoc errors in their Java projects
    "License": "license",  # license-maven-plugin / apache-rat header checks
    "Missing library": "dependency",
    # The dev cases are clirr-maven-plugin API-compatibility checks against the previous release: a quality gate.
    "Compare  version": "lint",
    "Unable to clone": "infrastructure",  # git clone/checkout of the repository failed before the build
    # "Execution": the build command itself could not run as configured (a single case upstream).
    "Execution": "configuration",
    # Upstream "Unknown" means the annotator could not tell why the job failed, not that it passed.
    "Unknown": "unknown",
}

# "Why Do GitHub Actions Workflows Fail?" (2024): sub-category tag -> ours. The tags are finer than their five top-level
# categories, so map them first; GHA_CATEGORY_MAP is the fallback for rows without a tag.
GHA_SUBCATEGORY_MAP: dict[str, str] = {
    "P1": "build_error",  # compilation fails due to issues in the source code
    "P2": "configuration",  # compilation fails due to project configuration mistakes
    "P3": "dependency",  # unresolved dependencies
    "P4": "dependency",  # dependency conflicts
    "P5": "lint",  # code failing predefined quality checks
    "P6": "dependency",  # vulnerability scans flag a dependency version (OWASP, Snyk)
    "P7": "test_failure",  # performance regression detected by a benchmark test
    "P8": "test_failure",  # software tests fail
    "W1": "resources",  # hardware/resource limitation
    "W2": "configuration",  # workflow configuration issues or incorrect instructions
    "W3": "network",  # network connection issues
    "W4": "dependency",  # workflow environment setup fails due to a dependency issue
    "W5": "auth",  # access to third-party services fails due to permissions
    "W6": "configuration",  # the referenced action cannot be resolved: a wrong `uses:` line
    "W7": "network",  # GitHub API rate limit exceeded (rate limits are registry/network trouble here)
    "W8": "infrastructure",  # version control management issues (checkout, refs, submodules)
}
GHA_CATEGORY_MAP: dict[str, str] = {
    "Compilation": "build_error",
    "Testing": "test_failure",
    "Environment/Configurations": "configuration",
    "Quality": "lint",
    "GitHub Issues": "infrastructure",
}

# Synonyms a model (or a human) may write instead of our names. Keys are normalised with `_norm`.
SYNONYMS: dict[str, str] = {
    "test": "test_failure", "tests": "test_failure", "test failures": "test_failure", "failing test": "test_failure",
    "failed test": "test_failure", "testing": "test_failure", "unit test": "test_failure", "assertion": "test_failure",
    "build": "build_error", "compilation": "build_error", "compile error": "build_error", "compilation error": "build_error",
    "compiler error": "build_error", "build failure": "build_error", "syntax error": "build_error",
    "compilation build error": "build_error",
    "dependencies": "dependency", "missing library": "dependency", "missing dependency": "dependency",
    "dependency error": "dependency", "dependency resolution": "dependency", "missing module": "dependency",
    "package": "dependency", "dependency missing library": "dependency",
    "style": "lint", "linting": "lint", "lint style": "lint", "checkstyle": "lint", "code style": "lint",
    "formatting": "lint", "quality": "lint", "linter": "lint",
    "types": "type_check", "typing": "type_check", "type error": "type_check", "type checking": "type_check",
    "mypy": "type_check", "typecheck": "type_check",
    "docs": "documentation", "doc": "documentation", "javadoc": "documentation", "docs build": "documentation",
    "licence": "license", "license header": "license", "licensing": "license",
    "config": "configuration", "environment": "configuration", "configuration environment": "configuration",
    "misconfiguration": "configuration", "missing secret": "configuration", "env": "configuration",
    "docker": "container", "container docker": "container", "kubernetes": "container", "image build": "container",
    "registry": "network", "network registry": "network", "dns": "network", "rate limit": "network",
    "connectivity": "network", "download failure": "network",
    "authentication": "auth", "permissions": "auth", "permission": "auth", "auth permissions": "auth",
    "authorization": "auth", "permission denied": "auth", "credentials": "auth",
    "resource": "resources", "out of memory": "resources", "oom": "resources", "timeout": "resources",
    "disk full": "resources", "memory": "resources",
    "infra": "infrastructure", "runner": "infrastructure", "infrastructure runner": "infrastructure",
    "toolchain": "infrastructure", "ci infrastructure": "infrastructure",
    "none": "unknown", "no failure": "unknown", "no failure found": "unknown", "unknown no failure found": "unknown",
    "n a": "unknown", "na": "unknown", "success": "unknown", "passed": "unknown",
}

_CATEGORY_LINE = re.compile(r"^\s*\**\s*category\s*\**\s*[:=-]\s*(.+)$", re.IGNORECASE | re.MULTILINE)


def _norm(text: str) -> str:
    """Lowercase, turn punctuation (`/`, `_`, `-`, quotes) into spaces and collapse them."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


_LOOKUP: dict[str, str] = {
    **{_norm(k): v for k, v in SYNONYMS.items()},
    **{_norm(c.name): c.id for c in CATEGORIES},
    **{_norm(c.id): c.id for c in CATEGORIES},
}


def parse_category(text: str) -> str | None:
    """The category id a free-text answer names, or None when it names none.

    Accepts a whole 3-line answer (the `Category:` line is used), an id, a display name or a synonym. An unrecognised
    answer gives None rather than "unknown", so garbage never scores as a correct "no failure" answer.
    """
    m = _CATEGORY_LINE.search(text)
    value = _norm(m.group(1) if m else text.strip().splitlines()[0] if text.strip() else "")
    if not value:
        return None
    if value in _LOOKUP:
        return _LOOKUP[value]
    # "test failure (pytest)" or "lint / style error": the longest known phrase at the start wins.
    words = value.split()
    for n in range(len(words) - 1, 0, -1):
        head = " ".join(words[:n])
        if head in _LOOKUP:
            return _LOOKUP[head]
    return None


def bugswarm_category(label: str) -> str:
    """Our id for a BugSwarm dissection `failure_category`; KeyError names the unmapped label."""
    key = label if label in BUGSWARM_MAP else " ".join(label.split())
    spaced = {" ".join(k.split()): v for k, v in BUGSWARM_MAP.items()}
    if key in BUGSWARM_MAP:
        return BUGSWARM_MAP[key]
    if key in spaced:
        return spaced[key]
    raise KeyError(f"BugSwarm failure_category {label!r} has no mapping in BUGSWARM_MAP")


def gha_category(sub_tag: str | None, category: str | None) -> str:
    """Our id for a GitHub Actions study row: its sub-category tag if mapped, else its top-level category."""
    if sub_tag and sub_tag.strip() in GHA_SUBCATEGORY_MAP:
        return GHA_SUBCATEGORY_MAP[sub_tag.strip()]
    if category and category.strip() in GHA_CATEGORY_MAP:
        return GHA_CATEGORY_MAP[category.strip()]
    raise KeyError(f"GitHub Actions study label ({sub_tag!r}, {category!r}) has no mapping")


_LEVEL_TAG = re.compile(r"^\[(?:ERROR|INFO|WARNING|WARN)\]\s*")
_CHECKOUT = re.compile(r"/home/travis/build/[^/\s]+/[^/\s]+/")


def quote_form(line: str) -> str:
    """How an answer quotes a log line: without its log-level tag and the CI checkout prefix, which say nothing. The
    recipe's corpus writes its root causes this way, and the analyzer checks the model's quotes against it."""
    return _CHECKOUT.sub("", _LEVEL_TAG.sub("", line.strip()))


def format_answer(category_id: str, root_cause: str, fix: str) -> str:
    """The exact 3-line answer the analyzer trains on."""
    if category_id not in BY_ID:
        raise KeyError(f"unknown category id {category_id!r}; known: {', '.join(IDS)}")
    for field_name, value in (("root_cause", root_cause), ("fix", fix)):
        if not value.strip() or "\n" in value:
            raise ValueError(f"{field_name} must be one non-empty line, got {value!r}")
    return f"Category: {BY_ID[category_id].name}\nRoot Cause: {root_cause.strip()}\nFix: {fix.strip()}"


_ANSWER = re.compile(r"^Category:\s*(?P<c>.+)\nRoot Cause:\s*(?P<r>.+)\nFix:\s*(?P<f>.+)$")


def parse_answer(text: str) -> dict[str, str] | None:
    """`{"category": id|None, "root_cause", "fix"}` for a well-formed 3-line answer, else None."""
    m = _ANSWER.match(text.strip())
    if not m:
        return None
    return {"category": parse_category(m["c"]), "root_cause": m["r"].strip(), "fix": m["f"].strip()}


__all__ = [
    "Category",
    "CATEGORIES",
    "BY_ID",
    "IDS",
    "BUGSWARM_MAP",
    "GHA_SUBCATEGORY_MAP",
    "GHA_CATEGORY_MAP",
    "SYNONYMS",
    "parse_category",
    "bugswarm_category",
    "gha_category",
    "format_answer",
    "quote_form",
    "parse_answer",
]
