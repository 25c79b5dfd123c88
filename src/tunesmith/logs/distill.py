"""Log distillation: cut a CI log of any size down to the lines that explain the failure, within a token budget.

One pass over the cleaned lines of `tunesmith.logs.stream` keeps bounded buffers (recent lines, scored regions around
failure cues, the tail); at the end lines are ranked by cue strength and rarity, nearness to a cue within its CI step
and to the failing step, and packed into the budget.
"""

from __future__ import annotations

import functools
import math
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from tunesmith.logs.cues import PASS, VERDICT, cue_weight
from tunesmith.logs.settings import DEFAULTS
from tunesmith.logs.stream import Line, Source, iter_lines, stream

__all__ = ["Excerpt", "cue_weight", "default_counter", "distill", "iter_lines"]

# Bounded buffers: memory stays in megabytes whatever the log size (lines are already cut to MAX_LINE_CHARS).
PRE_LINES = 30  # context kept before a cue
AFTER_LINES = 25  # context kept after the last cue of a region
STEP_LINES = 150  # lines remembered before a failing step's end marker ("The command ... exited with 1")
MAX_REGION_LINES = 400
MAX_REGIONS = 48  # strongest regions kept; the most recent KEEP_RECENT are never evicted
KEEP_RECENT = 8
TAIL_LINES = 300

# Ranking: a line's priority is the best over the cues of its region, in the same CI step, of
#   CUE_SCALE * weight + position bonus - rarity cost - distance cost.
CUE_SCALE = 10.0
IN_FAILING_STEP = 20.0  # cue inside the last step that ended with a non-zero exit
AFTER_FAILING_STEP = -10.0  # cue after it: usually cleanup/after_script noise
RECENCY = 10.0  # times the cue's relative position, when no failing step was seen
# Per line away from a cue; failures explain themselves after the cue. Lower costs keep one cue's block whole instead
# of the first lines of many: dev LogChunks full recall rises (0.5/0.1: 0.898 -> 0.929) but the BugSwarm excerpts lose
# the line that names the failure (evidence kept 0.958 -> 0.882; checkstyle violations listed before Maven's summary
# go first) and the analyzer drops 0.944 -> 0.925. No point of the grid wins on all four scores of
# benchmarks/distill_costs.py.
COST_BEFORE, COST_AFTER = 1.0, 0.6
# ...except after the failing step's first failure (`_first_cue`): that block is the failure, so it is kept whole
# (its stack, diff or list of violations) while the other cues keep the breadth that BugSwarm's excerpts need. Dev
# LogChunks 0.898 / 0.888 -> 0.923 / 0.913, CiDiff 0.845 -> 0.842, BugSwarm evidence unchanged (0.958); 0.05 wins in
# every fold of the leave-languages-out check, and 0 (ties broken by position) collapses to 0.84
# (benchmarks/distill_costs.py). On test, run once, it did not carry: 0.767 / 0.758 -> 0.762 / 0.753.
FIRST_COST_AFTER = 0.05
COST_BEFORE_END = 0.25  # per line before a failing-step end marker: the step's last output is the usual culprit
TAIL_PRIORITY, TAIL_COST = 5.0, 0.05
RARITY = 2.0  # per doubling of the lines with the same cue: the hundredth logged TimeoutException tells little
MAX_CUE_KEYS = 10_000
LONG_LINE_TOKENS, LONG_LINE_COST = 60, 0.05  # lines above 60 tokens pay 0.05 priority per token
# A line with more letters and digits than this is kept once; rules ("[INFO] -----"), carets and braces frame each block.
DUP_MIN_CHARS = 12

PASS_PENALTY, BLANK_PENALTY = 15.0, 3.0
# A CI step begins: Travis/GitLab echo "$ command"; GitHub Actions and Jenkins steps arrive tagged "step" by clean_line.
# (Build-tool sub-steps such as Gradle's "> Task :x" are not steps: the failing test may be several tasks back.)
_STEP_START = re.compile(r"^\$ \S")
_STEP_END = re.compile(r'^The command ".*" (?:exited|failed) with \d')
_ALNUM = re.compile(r"[^\W_]")


@dataclass
class Excerpt:
    """The distilled log. `lines` are (original 1-based line number, redacted text); `failure_lines` are the line
    numbers flagged as failure cues (the analyzer's evidence lines)."""

    lines: list[tuple[int, str]]
    failure_lines: list[int] = field(default_factory=list)
    total_lines: int = 0
    n_tokens: int = 0
    found: bool = False
    notes: list[str] = field(default_factory=list)
    # Indices i into `lines` where lines[i-1] and lines[i] are not adjacent in the cleaned log: render shows "...".
    breaks: set[int] = field(default_factory=set)

    @property
    def text(self) -> str:
        return self.render()

    def render(self, line_numbers: bool = False) -> str:
        width = len(str(self.lines[-1][0])) if self.lines else 1
        out: list[str] = []
        for i, (no, text) in enumerate(self.lines):
            if i in self.breaks:
                out.append("...")
            out.append(f"{no:>{width}}: {text}" if line_numbers else text)
        if not self.found:
            out.insert(0, "[no failure found" + (": showing the end of the log]" if self.lines else "]"))
        return "\n".join(out)


@dataclass
class _Region:
    lines: list[Line]
    cues: list[Line]

    @property
    def strength(self) -> float:
        return max(c.weight for c in self.cues) * 100 + min(len(self.cues), 99)


@functools.cache
def default_counter() -> Callable[[str], int]:
    """Token counter of the bundled default model (SmolLM2), loaded once."""
    from tunesmith.models import load_tokenizer

    tok = load_tokenizer("smollm2-135m")
    return lambda s: len(tok(s, add_special_tokens=False)["input_ids"])


def distill(source: Source, budget: int = DEFAULTS.budget, count_tokens: Callable[[str], int] | None = None,
            pack_repeats: bool = True) -> Excerpt:
    """The failure excerpt of a log within `budget` tokens (counted by `count_tokens`, default the SmolLM2 tokenizer).

    `pack_repeats` keeps a repeated line (a retry's error, a summary printed twice) once and spends the budget on other
    blocks: dev recall LogChunks 0.886/0.883 -> 0.898/0.887, CiDiff 0.714/0.841 -> 0.743/0.845. It changes 75% of
    BugSwarm excerpts; the shipped adapter was trained on unpacked ones, yet the analyzer (model + category prior) scores
    0.944 on the held-out BugSwarm dev logs with packed excerpts against 0.935 without (format valid 0.972 vs 0.963).
    """
    count = count_tokens or default_counter()
    notes: list[str] = []
    regions, tail, failing, seen, total = _collect(source, notes)
    return _pack(_priorities(regions, tail, failing, seen), regions, total, budget, count, notes, pack_repeats)


def _collect(source: Source, notes: list[str]):
    """The one streaming pass: (regions around cues, the tail, the last failing step's (start, end) seqs or None,
    lines per cue key, the number of original lines). Everything it keeps is bounded by the constants above."""
    pre: deque[Line] = deque(maxlen=max(PRE_LINES, STEP_LINES))
    tail: deque[Line] = deque(maxlen=TAIL_LINES)
    regions: list[_Region] = []
    cur: _Region | None = None
    after_left = 0
    step_start = 0  # seq of the latest step start
    part = 0
    failing: tuple[int, int] | None = None  # (start seq, end seq) of the last step that ended in failure
    total = 0
    truncated = 0
    seen: dict[str, int] = {}  # cue key -> lines with that cue, for the rarity cost

    def close(region: _Region) -> None:
        regions.append(region)
        if len(regions) > MAX_REGIONS + KEEP_RECENT:
            old = regions[:-KEEP_RECENT]
            weakest = min(range(len(old)), key=lambda i: (old[i].strength, i))
            del regions[weakest]

    for line in stream(source, notes):
        total = line.no
        truncated += "[... line truncated:" in line.text
        if line.step or line.text.startswith("$ ") and _STEP_START.match(line.text):
            step_start = line.seq
            part += 1
        line.part = part
        if line.fail_end or line.text.startswith("The command ") and _STEP_END.match(line.text):
            part += 1
        if line.key and (line.key in seen or len(seen) < MAX_CUE_KEYS):
            seen[line.key] = seen.get(line.key, 0) + 1
        if cur is not None:
            cur.lines.append(line)
            if line.weight:
                cur.cues.append(line)
                after_left = AFTER_LINES
            elif not (line.text[:1].isspace() and after_left > 0):
                after_left -= 1  # indented lines (stack frames, block bodies) keep a region open
            if after_left <= 0:
                close(cur)
                cur = None
            elif len(cur.lines) >= MAX_REGION_LINES:
                # Full, not finished: the next region starts with this one's last lines and their cues, so a failure
                # that falls on the cut keeps the context after it (its stack trace) instead of losing it.
                close(cur)
                carry = cur.lines[-PRE_LINES:]
                cues = [ln for ln in carry if ln.weight]
                cur = _Region(carry, cues) if cues else None
        elif line.weight:
            cur = _Region(list(pre)[-PRE_LINES:] + [line], [line])
            after_left = AFTER_LINES
        if line.fail_end:
            failing = (step_start, line.seq)
            close(_Region(list(pre) + [line], [line]))
        pre.append(line)
        tail.append(line)
    if cur is not None:
        close(cur)
    if truncated:
        notes.append(f"{truncated} over-long lines truncated")
    return regions, tail, failing, seen, total


def _cue_bonus(cue: Line, failing: tuple[int, int] | None, last_seq: int, first: int) -> float:
    if failing is None:
        return RECENCY * cue.seq / max(last_seq, 1)
    start, end = failing
    if cue.seq == first:
        return IN_FAILING_STEP  # the step's first failure weighs as much as its last words
    if start <= cue.seq <= end:
        # Inside the failing step, and more so near its end: long steps print warnings long before they fail.
        return IN_FAILING_STEP * (0.5 + 0.5 * max(0.0, 1 - (end - cue.seq) / STEP_LINES))
    return AFTER_FAILING_STEP if cue.seq > end else RECENCY * cue.seq / max(last_seq, 1)


def _first_cue(regions: list[_Region], failing: tuple[int, int] | None) -> int:
    """The seq of the failing step's first failed test, else its first cue of the strongest weight, or -1. The first
    failed test or compiler error is usually the cause; later ones repeat it or follow from it. Only for a step whose
    start was seen: a log without step markers is one "step" from line 1, where the first strong cue may be setup
    noise."""
    if failing is None or failing[0] == 0:
        return -1
    inside = [c for r in regions for c in r.cues if failing[0] <= c.seq < failing[1] and not c.fail_end]
    verdicts = [c.seq for c in inside if VERDICT.search(c.text)]
    if verdicts:  # a test runner ran: its first failed test, not an error message quoted in an expected-output diff
        return min(verdicts)
    top = max((c.weight for c in inside), default=0.0)
    return min((c.seq for c in inside if c.weight == top), default=-1)


def _priorities(regions, tail, failing, seen) -> dict[int, tuple[float, Line]]:
    """Each candidate line's priority: the best over the cues of its regions, the tail bonus, minus penalties."""
    last_seq = tail[-1].seq if tail else 0
    best: dict[int, tuple[float, Line]] = {}
    first = _first_cue(regions, failing)

    def offer(line: Line, p: float) -> None:
        if line.seq not in best or best[line.seq][0] < p:
            best[line.seq] = (p, line)

    for region in regions:
        for cue in region.cues:
            base = CUE_SCALE * cue.weight + _cue_bonus(cue, failing, last_seq, first) - RARITY * math.log2(seen.get(cue.key, 1))
            cost_before = COST_BEFORE_END if cue.fail_end else COST_BEFORE
            cost_after = FIRST_COST_AFTER if cue.seq == first else COST_AFTER
            for line in region.lines:
                if line.part != cue.part:
                    continue
                d = cue.seq - line.seq
                offer(line, base - (d * cost_before if d >= 0 else -d * cost_after))
    for line in tail:
        offer(line, TAIL_PRIORITY - TAIL_COST * (last_seq - line.seq))
    for seq, (p, line) in best.items():
        if not line.text.strip():
            best[seq] = (p - BLANK_PENALTY, line)
        elif not line.weight and PASS.search(line.text):
            best[seq] = (p - PASS_PENALTY, line)
    return best


def _pack(best, regions, total, budget, count, notes, pack_repeats: bool) -> Excerpt:
    chosen: list[Line] = []
    used = 0
    ranked = sorted(best.values(), key=lambda t: (-t[0], -t[1].seq))
    # Priority of the line that would be last in with ordinary-length lines: what a long line is measured against.
    cutoff = ranked[min(len(ranked), budget // 12) - 1][0] if ranked else 0.0
    kept_texts: set[str] = set()
    for p, line in ranked:
        text = line.final_text()
        if pack_repeats and text in kept_texts and len(_ALNUM.findall(text)) > DUP_MIN_CHARS:
            continue  # retries and summaries print the same error again: a second copy tells the reader nothing new
        cost = count(text) + 1  # + the newline
        if cost > LONG_LINE_TOKENS and p - LONG_LINE_COST * cost < cutoff:
            continue  # a 300-token line must earn its place against the dozen ordinary lines it would displace
        if used + cost > budget:
            continue
        chosen.append(line)
        kept_texts.add(text)
        used += cost
        if budget - used < 2:
            break
    chosen.sort(key=lambda ln: ln.seq)
    excerpt = _excerpt(chosen, total, notes, found=any(r.cues for r in regions))
    # Gap markers and joins can push the exact count past the budget: drop the lowest-priority lines until it fits.
    rank = {ln.seq: p for p, ln in best.values()}
    n = 0
    while excerpt.lines and (n := count(excerpt.text)) > budget:
        chosen.remove(min(chosen, key=lambda ln: (rank[ln.seq], -ln.seq)))
        excerpt = _excerpt(chosen, total, notes, found=excerpt.found)
    excerpt.n_tokens = n if excerpt.lines else 0
    return excerpt


def _excerpt(chosen: list[Line], total: int, notes: list[str], found: bool) -> Excerpt:
    breaks = {i for i in range(1, len(chosen)) if chosen[i].seq != chosen[i - 1].seq + 1}
    if chosen and chosen[0].seq != 1:
        breaks.add(0)
    return Excerpt(
        lines=[(ln.no, ln.final_text()) for ln in chosen],
        failure_lines=[ln.no for ln in chosen if ln.weight >= 2.0 or ln.fail_end],
        total_lines=total,
        found=found,
        notes=list(notes),
        breaks=breaks,
    )
