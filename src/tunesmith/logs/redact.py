"""Secret redaction for CI logs: credentials become `[REDACTED:<kind>]`, the rest of the line stays diagnosable.

Regexes for the known token shapes and secret-named assignments first (fast on big logs), then a high-entropy check that
spares git SHAs, sha256 digests, UUIDs and version strings (hex-only or too regular to be a key).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["Finding", "LineRedactor", "find_secrets", "redact", "redact_line", "redact_lines"]

_KEY_BEGIN = re.compile(r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_KEY_END = re.compile(r"-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")

# (kind, pattern, group holding the secret). Group 0 = the whole match is the secret.
_TOKEN_PATTERNS: list[tuple[str, re.Pattern, int]] = [
    ("private_key", re.compile(r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|$)"), 0),
    ("aws_access_key", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[0-9A-Z]{16}\b"), 0),
    ("gcp_api_key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-])"), 0),
    ("gcp_oauth_token", re.compile(r"\bya29\.[0-9A-Za-z_\-]{20,}"), 0),
    ("azure_key", re.compile(r"(?i)\b(?:AccountKey|SharedAccessKey)=([A-Za-z0-9+/]{20,}={0,2})"), 1),
    ("azure_sas", re.compile(r"[?&]sig=([A-Za-z0-9%+/]{20,}(?:%3D|=){0,2})"), 1),
    ("azure_client_secret", re.compile(r"(?<![A-Za-z0-9_~.-])[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}(?![A-Za-z0-9_~.-])"), 0),
    ("github_token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,255}\b"), 0),
    ("github_token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b"), 0),
    ("gitlab_token", re.compile(r"\bgl(?:pat|dt|rt|ptt|ft|cbt|imt|agent|oas)-[A-Za-z0-9_\-]{20,}"), 0),
    ("npm_token", re.compile(r"\bnpm_[A-Za-z0-9]{36}\b"), 0),
    ("pypi_token", re.compile(r"\bpypi-AgE[A-Za-z0-9_\-]{40,}"), 0),
    ("slack_token", re.compile(r"\bxox[abposre]-[A-Za-z0-9\-]{10,}"), 0),
    ("slack_webhook", re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_\-]{20,}"), 0),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"), 0),
    ("url_password", re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@]+:([^/\s@]+)@"), 1),
    ("authorization", re.compile(r"(?i)\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token|digest|bot)\s+)?([^\s\"',;]+)"), 1),
    ("bearer_token", re.compile(r"\b[Bb]earer\s+([A-Za-z0-9._~+/\-]{12,}=*)"), 1),
]

_SECRET_NAME = r"[A-Za-z0-9_.\-]*(?:PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|AUTH_?KEY|CREDENTIALS?)[A-Za-z0-9_]*"
# NAME=value (shell, .env, docker -e); quotes optional. Case-insensitive names: `npm config set _authToken=...`.
_ASSIGN_EQ = re.compile(rf"(?i)(?<![\w-])({_SECRET_NAME})[\"']?\s*=\s*[\"']?([^\s\"'`,;&]+)")
# NAME: value (YAML, headers, JSON). ":" also appears in prose ("Unexpected token: punc"), so the value must look secret.
_ASSIGN_COLON = re.compile(rf"(?i)(?<![\w-])({_SECRET_NAME})[\"']?\s*:\s*[\"']?([^\s\"'`,;]+)")
_FLAG = re.compile(r"(?i)(?<![\w-])--?(?:password|passwd|pass|token|secret|api-key|apikey|access-key|auth-token|client-secret)(?:=|\s+)[\"']?([^\s\"']+)")
_SAFE_VALUES = {
    "true", "false", "null", "none", "nil", "yes", "no", "on", "off", "required", "optional", "passed", "failed", "ok",
    "error", "skipped", "masked", "redacted", "undefined", "empty", "unset", "***", "<redacted>", "string", "str",
    "int", "bool", "secret", "password", "token", "xxx", "****", "changeme",
}

# High entropy: long base64/alnum runs. Hex-only runs are SHAs and digests; they are not redacted.
_CANDIDATE = re.compile(r"(?<![A-Za-z0-9+/_\-=])[A-Za-z0-9+/_\-]{24,}={0,2}(?![A-Za-z0-9+/_\-=])")
_HEX = re.compile(r"[0-9a-fA-F\-]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_LONG_HEX = re.compile(r"(?<![A-Za-z0-9])[0-9a-fA-F]{16,}(?![A-Za-z0-9])|[0-9a-f]{32,}|[0-9A-F]{32,}")
# Every pattern above needs one of these; a line without any is skipped after a single scan.
_TRIGGER = re.compile(r"(?i)[A-Za-z0-9+/_\-]{20,}|://[^/\s]*@|pass|secret|token|key|auth|bearer|credential|sig=|login|mysql|-u\s|--user")
# Passwords given as short flags: `docker/podman/helm login -p VALUE`, `mysql -pVALUE`, `curl -u user:VALUE`.
_SHORT_FLAG = re.compile(
    r"(?i)\b(?:(?:docker|podman|buildah|helm|oras|skopeo)\b[^|;&]*?\blogin\b[^|;&]*?\s-p\s+[\"']?([^\s\"']+)"
    r"|mysql(?:dump|admin)?\b[^|;&]*?\s-p([^\s\"']+)"
    r"|curl\b[^|;&]*?\s(?:-u|--user)\s+[\"']?[^\s:\"']+:([^\s\"']+))"
)
_ENTROPY_BITS = 4.2  # bits per character; random base64 of length >= 24 is ~4.3-5.2, identifiers and paths ~3-4
# Words of an identifier: "TestDuplicatedLinks/go-oci8" -> Test Duplicated Links go oci 8 (mean 4.2 characters). A
# random base62/base64 key splits into runs of about 1.9; 0.035% or fewer of random keys of 20 characters or more reach
# a mean of 4 (100,000 sampled per length), so at 4 a test or symbol name is no secret.
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_WORD_MEAN = 4.0
# Build ids that are hashes by design, not credentials: Cabal/GHC unit ids, 20-22 characters after a package's name and
# version ("parsec-3.1.13.0-3SJ2i5RVVMUKdnXmolfgLX", in file names and package dbs), and the same id in GHC's z-encoded
# symbols ("zm0zi6zi0zm<id>": '-' is zm, '.' is zi) that linker errors print.
_UNIT_ID = re.compile(r"(?:(?<=[A-Za-z]-)(?:\d+\.)*\d+-|zm(?:\d+zi)*\d+zm)([A-Za-z0-9]{20,22})(?![A-Za-z0-9])")


@dataclass(frozen=True)
class Finding:
    """A secret in `text[start:end]` (offsets into the text given to `find_secrets`)."""

    kind: str
    start: int
    end: int
    line: int  # 1-based line of the text

    def value(self, text: str) -> str:
        return text[self.start:self.end]


def _entropy(s: str) -> float:
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def _looks_random(s: str) -> bool:
    # Digests embedded in cache keys and file names ("Linux-pip-<sha256>") are not secrets: judge what is left.
    core = _LONG_HEX.sub("", _UUID.sub("", s.rstrip("=")))
    # Identifiers and paths are words joined by separators; a key has long random runs between any separators.
    if len(core) < 20 or max(map(len, re.split(r"[/_.\-]", core))) < 12 or _HEX.fullmatch(core) or core.count("/") >= 2 and not core.endswith("="):
        return False  # git SHA / digest / UUID, or a path
    classes = sum(bool(re.search(p, core)) for p in ("[a-z]", "[A-Z]", "[0-9]"))
    if classes < 3 or _entropy(core) < _ENTROPY_BITS:
        return False
    words = _WORDS.findall(core)
    return sum(map(len, words)) / len(words) < _WORD_MEAN


def _safe_value(v: str) -> bool:
    low = v.lower()
    return (
        low in _SAFE_VALUES
        or v.startswith(("$", "%", "[REDACTED", "<", "{"))  # $VAR, ${{ secrets.X }}, %VAR%, placeholders
        or set(v) <= {"*", "x", "X", "."}
        or len(v) < 3
    )


def _colon_value_secret(name: str, v: str) -> bool:
    if _safe_value(v):
        return False
    if re.search(r"(?i)pass|secret|credential", name):
        return True
    # "token:" / "key:" in prose or YAML keys: only values that look like keys (long, with a digit or mixed case).
    return len(v) >= 12 and bool(re.search(r"\d", v)) and not v.endswith(":")


def _line_spans(line: str) -> list[tuple[int, int, str]]:
    if not _TRIGGER.search(line):
        return []  # most log lines: one cheap scan instead of twenty
    spans: list[tuple[int, int, str]] = []
    for kind, pat, group in _TOKEN_PATTERNS:
        for m in pat.finditer(line):
            spans.append((m.start(group), m.end(group), kind))
    for m in _ASSIGN_EQ.finditer(line):
        if not _safe_value(m.group(2)):
            spans.append((m.start(2), m.end(2), "secret_assignment"))
    for m in _ASSIGN_COLON.finditer(line):
        if _colon_value_secret(m.group(1), m.group(2)):
            spans.append((m.start(2), m.end(2), "secret_assignment"))
    for m in _FLAG.finditer(line):
        if not _safe_value(m.group(1)):
            spans.append((m.start(1), m.end(1), "secret_flag"))
    for m in _SHORT_FLAG.finditer(line):
        g = next(i for i in (1, 2, 3) if m.group(i))
        spans.append((m.start(g), m.end(g), "secret_flag"))
    randoms = [m for m in _CANDIDATE.finditer(line) if _looks_random(m.group(0))]
    if randoms and _UNIT_ID.search(line):
        # Judge again with the unit ids blanked by characters no candidate holds (offsets stay those of `line`); only
        # here, since a random-looking run is rare and the unit-id scan would cost every line.
        masked = _UNIT_ID.sub(lambda m: m.group(0)[:m.start(1) - m.start()] + "." * len(m.group(1)), line)
        randoms = [m for m in _CANDIDATE.finditer(masked) if _looks_random(m.group(0))]
    spans += [(m.start(), m.end(), "high_entropy") for m in randoms]
    return _merge(spans)


def _merge(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Overlapping findings become one span (the earliest-starting, longest kind names it)."""
    out: list[tuple[int, int, str]] = []
    for s, e, k in sorted(spans, key=lambda t: (t[0], -t[1])):
        if out and s < out[-1][1]:
            ps, pe, pk = out[-1]
            out[-1] = (ps, max(pe, e), pk)
        else:
            out.append((s, e, k))
    return out


def _apply(line: str, spans: list[tuple[int, int, str]]) -> str:
    for s, e, k in reversed(spans):
        line = f"{line[:s]}[REDACTED:{k}]{line[e:]}"
    return line


def find_secrets(text: str) -> list[Finding]:
    """Every secret in `text`, with offsets; private key blocks may span lines."""
    findings: list[Finding] = []
    offset = 0
    in_key: Finding | None = None
    for no, line in enumerate(text.splitlines(keepends=True), 1):
        body = line.rstrip("\r\n")
        if in_key is not None:
            end = _KEY_END.search(body)
            stop = offset + (end.end() if end else len(body))
            in_key = Finding("private_key", in_key.start, stop, in_key.line)
            if end:
                findings.append(in_key)
                in_key = None
                body_spans = _line_spans(body[end.end():])
                findings += [Finding(k, offset + end.end() + s, offset + end.end() + e, no) for s, e, k in body_spans]
            offset += len(line)
            continue
        begin = _KEY_BEGIN.search(body)
        spans = _line_spans(body)
        if begin and not _KEY_END.search(body, begin.end()):
            spans = [sp for sp in spans if sp[1] <= begin.start()]
            in_key = Finding("private_key", offset + begin.start(), offset + len(body), no)
        findings += [Finding(k, offset + s, offset + e, no) for s, e, k in spans]
        offset += len(line)
    if in_key is not None:
        findings.append(in_key)
    return findings


def redact(text: str) -> str:
    """`text` with every secret replaced by `[REDACTED:<kind>]`."""
    out = text
    for f in sorted(find_secrets(text), key=lambda f: f.start, reverse=True):
        out = f"{out[:f.start]}[REDACTED:{f.kind}]{out[f.end:]}"
    return out


def redact_line(line: str) -> str:
    """One line that is neither inside nor the start of a private key block (see `LineRedactor.stateful`)."""
    spans = _line_spans(line)
    return _apply(line, spans) if spans else line


class LineRedactor:
    """`redact_lines` one line at a time. Only a line for which `stateful(line)` holds can open, continue or close a
    private key block; any other line may be redacted later, or never, with `redact_line` (the distiller redacts only
    the lines it keeps)."""

    def __init__(self) -> None:
        self.in_key = False

    def stateful(self, line: str) -> bool:
        return self.in_key or "PRIVATE KEY" in line  # both key markers contain it

    def __call__(self, line: str) -> str:
        body = line.rstrip("\r\n")
        ending = line[len(body):]
        if self.in_key:
            end = _KEY_END.search(body)
            if end is None:
                return "[REDACTED:private_key]" + ending
            self.in_key = False
            rest = body[end.end():]
            return "[REDACTED:private_key]" + _apply(rest, _line_spans(rest)) + ending
        begin = _KEY_BEGIN.search(body)
        if begin and not _KEY_END.search(body, begin.end()):
            self.in_key = True
            head = body[:begin.start()]
            return _apply(head, _line_spans(head)) + "[REDACTED:private_key]" + ending
        spans = _line_spans(body)
        return _apply(body, spans) + ending if spans else line


def redact_lines(lines: Iterable[str]) -> Iterator[str]:
    """Streaming `redact`: one output line per input line (line endings kept), private key bodies become
    `[REDACTED:private_key]` on every line they span, so line numbers stay aligned with the original."""
    redactor = LineRedactor()
    for line in lines:
        yield redactor(line)
