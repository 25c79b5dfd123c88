"""What a failure line looks like: cue patterns and their weights, success verdicts, and a fast pre-check.

`weigh(text)` weighs one cleaned log line (0 = no cue, 3 = a compiler error, a traceback, a failed test's verdict) and
says what matched, so the distiller can tell a rare cue from one the log repeats a hundred times.
"""

from __future__ import annotations

import re

__all__ = ["PASS", "VERDICT", "cue_weight", "maybe_cue", "weigh"]

# A test runner's verdict on one test, first or last on the line: "FAIL x", "--- FAIL:", "not ok 3", "[-] x",
# "x FAILED", "*** FAILED ***", "<<< FAILURE!", "=>x ERROR", "Dubious, test returned 1".
VERDICT = re.compile(r"^\s*(?:FAIL(?:ED)?\b|--- FAIL|not ok\b|\[-\]|[✗✖×✘❌])"
                     r"|\b(?:FAILED|FAIL|ERROR|FAILURE!|ERROR!)\s*(?:\*\*\*)?\s*(?:\[\s*\d+%\s*\])?$|\bDubious, test returned [1-9]")

# (pattern, weight): a line's cue weight is the largest that matches. Case matters: FAILED is a verdict, "failed" prose.
_CUES: list[tuple[re.Pattern, float]] = [
    (VERDICT, 3.0),
    (re.compile(r"Traceback \(most recent call last\)|^E {2,}\S|npm ERR!|BUILD FAILURE|BUILD FAILED|FAILURE:|"
                r"\bpanicked at\b"), 3.0),
    # The CI system stopped the job: Travis's stall and time-limit notices, GitHub Actions' execution-time limit.
    (re.compile(r"No output has been received in the last|exceeded the maximum (?:time limit|execution time)"), 3.0),
    (re.compile(r"^\s*\S+?:\d+(?::\d+)?:\s*(?:fatal\s+)?error\b|\berror(?:\[E\d+\])?:|\berror (?:TS|CS|C|LNK)\d+"), 3.0),
    # An error-level line that points at a source location (sbt, Maven: "[error] /src/A.scala:38:56: ...").
    (re.compile(r"^\s*\[(?:ERROR|error)\]\s+\S+?:\[?\d+(?:[:,]\d+)?\]?:?\s"), 3.0),
    (re.compile(r"make(?:\[\d+\])?: \*\*\*|(?:Failures|Errors|failures|errors|Failed|FAILED|Fail): [1-9]"
                r"|\b[1-9]\d* (?:failed|failing|failures?|errors?)\b"), 3.0),
    # Test runners' and linters' own failure headers, from their documented output: RSpec "Failure/Error:", PHPUnit
    # "FAILURES!" / "There was 1 failure:", Perl's TAP "#   Failed test" / "# Looks like you failed", EUnit "*failed*",
    # Elixir "** (Mix) ...", Vader "(X)", TeX "! LaTeX Error:", R "Execution halted", RuboCop "1 offense detected",
    # ESLint "  3:7  error  ...", Gradle "* What went wrong:".
    (re.compile(r"Failure/Error:|^\s*FAILURES!|^There (?:was|were) [1-9]\d* (?:failures?|errors?)\b|^#\s+Failed test\b"
                r"|^# Looks like you failed|\*failed\*|^\*\* \([A-Z]\w*\)|^\s*\(\d+/\d+\) \[\s*\w+\s*\] \(X\)"
                r"|^! (?:LaTeX Error|Undefined control sequence|Emergency stop)|^Execution halted|\b[1-9]\d* offenses? detected"
                r"|^\s*\d+:\d+\s+error\s|^\* What went wrong:"), 3.0),
    (re.compile(r"^rspec \./\S+:\d+|^Failed \d+/\d+ subtests|^Failed tests?:|^Test Summary Report|\bAssertion failure\b"
                r"|^! \S|^Error in .+ : |^\S+:\d+:\d+: [EF]: |^\s*\^-- SC\d{4}"), 2.0),
    (re.compile(r"^\s*(?:Failures?|Errors?|FAILURES?|ERRORS?)\s*:?\s*$"), 3.0),
    (re.compile(r"^\s*(?:Error|Fatal|Exception):\s|\b[A-Z]\w*(?:Error|Exception|Failure|Assertion)\b|\[(?:ERROR|error)\]|\b(?:FAIL|FAILED|ERROR|FATAL|ERR)\b|\bpanic:"), 2.0),
    (re.compile(r"(?i)exit(?:ed with| code| status)(?: code)?\s*:?\s*[1-9]|non-zero (?:exit|code|status)|\bfatal\b"), 2.0),
    # A crashed process, whatever the language or tool ran it.
    (re.compile(r"(?i)segmentation fault|core dumped|stack overflow\b|\bbus error\b"), 2.0),
    # Test-runner verdicts: Pester "[-]", TAP "not ok", mocha/ExUnit "1) ", crosses.
    (re.compile(r"^\s*(?:\[-\]|[✗✖×✘]|not ok\b|\d+\) \S)"), 2.0),
    # Not inside names: "symfony/error-handler", "--fail-fast", "on_failure.sh".
    (re.compile(r"(?i)(?<![\w/.-])(?:fail(?:ed|ure|ing|s)?|errors?|exception)(?![\w/.-]|-\w)"), 1.0),
    (re.compile(r"(?i)cannot|can't|could not|couldn't|unable to|not found|no such file|undefined|unexpected|"
                r"denied|refused|timed out|missing|invalid|expected|mismatch|conflict|unresolved"), 1.0),
]
# Lines that mention failure words but report success ("0 errors", "exited with 0", "Failures: 0").
_NEGATIVE = re.compile(r"(?i)\b0 (?:errors?|failures?|failed)\b|(?:failures|errors|failed|fail): 0\b(?!.*(?:fail|error)\w*: [1-9])"
                       r"|exit(?:ed with| code) 0\b|-Werror|error_reporting|\bno errors?\b")
# A stack frame, whatever log-level tag precedes it ("[error] \tat sbt.Execute.work(Execute.scala:278)"): the context of
# the exception above it, not a failure of its own.
_FRAME = re.compile(r"^\s*(?:\[\w+\]\s*)?(?:at [\w$.<>/-]+\(.*\)|\.\.\. \d+ more)\s*$")
# Settings that name failures, echoed by tools ("Will allow errors: 302", "ignore_errors: true"): never a failure.
_SETTING = re.compile(r"(?i)\b(?:allow|ignore)(?:s|d|ed)?[ _-]?(?:errors?|failures?)\b")
# Success verdicts ("--- PASS", "[+]", "ok 3 -", "✓", "test_x[npm ERR!] PASSED [ 85%]", "SKIP x", "t1.sh .... ok"): no
# cue whatever words the test's name holds, and never useful context, so they rank below anything else.
PASS = re.compile(r"^\s*(?:--- (?:PASS|SKIP)|\[\+\]|[✓✔√]|ok\s|(?:PASS|SKIP|XFAIL|XPASS)\b|\?\s+\S+\s+\[no test files\])"
                   r"|\b(?:PASSED|SKIPPED|XFAIL|XPASS|PASS|SKIP|OK)\s*(?:\[\s*\d+%\s*\])?$|\.{3,}\s*(?:ok|skipped)\b|\b\d+ passing\b")
_DIGITS = re.compile(r"\d+")


# Every cue needs one of these words (matched lower-cased) or a verdict mark at the line start; a line without
# any is no cue, found with one scan instead of nine (most log lines). A new cue must add its words here too.
_MAYBE = re.compile(r"err|fail|exception|traceback|fatal|panic|exit|dubious|assertion|\*\*\*|can|could|unable to|not found|"
                    r"no such file|undefined|expected|denied|refused|timed out|missing|invalid|mismatch|conflict|unresolved")
# Rarer cue words are tested with `in` in maybe_cue: each alternative added to _MAYBE slows the scan of every line.
_MAYBE_START = re.compile(r"E {2}|\s*(?:\[-\]|[✗✖×✘❌]|not ok|\d+\) |\^-- SC\d)|! \S|\*\* \(|rspec |Test Summary|\s*\d+:\d+\s+error")


def maybe_cue(text: str) -> bool:
    # casefold and the dotless i: every character the cues' (?i) matches as a letter of these words maps onto it.
    low = text.lower() if text.isascii() else text.casefold().replace("\u0131", "i")
    return bool(_MAYBE.search(low) or _MAYBE_START.match(text)) or (
        "segmentation" in low or "dumped" in low or "overflow" in low or "non-zero" in low or "no output" in low
        or "exceeded" in low or "halted" in low or "offense" in low or "what went wrong" in low or "(x)" in low)


def cue_weight(text: str) -> float:
    """How strongly one cleaned line signals a failure (0 = not at all, 3 = a compiler error, traceback, FAILED...)."""
    return weigh(text)[0] if maybe_cue(text) else 0.0


def weigh(text: str) -> tuple[float, str]:
    """(weight, what matched): the cue text, lower-cased with digits masked, counts how often a log repeats a cue."""
    if PASS.search(text) or _SETTING.search(text) or _FRAME.match(text):
        return 0.0, ""
    w, key = 0.0, ""
    for pat, weight in _CUES:
        if weight > w and (m := pat.search(text)):
            w = weight
            # A verdict or a log-level tag does not say which failure: the rest of the line is what may repeat.
            marker = pat is VERDICT or m.group(0)[:1] == "["
            key = (text[:m.start()] + " " + text[m.end():]).strip()[:40] if marker else m.group(0)
    if w and w < 3.0 and _NEGATIVE.search(text):
        return 0.0, ""
    return w, _DIGITS.sub("0", key.strip().lower())
