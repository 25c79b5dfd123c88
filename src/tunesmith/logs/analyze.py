"""The CI failure analyzer: raw log → redact → distil → knowledge base → model → Category / Root Cause / Fix.

When a knowledge-base entry fits the log (its signature matches a line, or the log repeats a past incident's line), the
answer is the entry's cause and fix with the log's own entity (file, package, image, permission) filled in, and says
which entry it used. Otherwise the model answers; its answer is parsed into fields, a malformed one is repaired and
flagged (`valid=False`, `repaired=True`), and a degenerate one (a loop, a cut-off repetition) is replaced by the log's
failure line and flagged — never passed on silently. A log with no failure cue gets "unknown" without asking the model.
The model is the run's, in process, or any OpenAI-compatible server's (`remote_analyzer`, `tunesmith analyze
--endpoint`): everything else, the redaction first, happens here either way.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tunesmith.logs.categories import BY_ID, CATEGORIES, parse_answer, parse_category, quote_form
from tunesmith.logs.distill import Excerpt, distill
from tunesmith.logs.kb import PROJECT_KB, KnowledgeBase, Match
from tunesmith.logs.prior import CategoryPrior
from tunesmith.logs.settings import DEFAULTS

# The recipe's adapter ships inside the package, so `tunesmith analyze` works right after set-up.
BUNDLED_ADAPTER = Path(__file__).parent / "adapter"
PROMPT_LOOKUP = 10  # prompt_lookup_num_tokens for one log at a time (see Analyzer.generator)
NO_FAILURE = ("no failure found in the log", "none needed; if the job did fail, look at the step that reported the failure")

_FIELD = re.compile(r"\b(category|root[ _-]?cause|cause|fix|solution)\**\s*[:=-]\s*(.+)$", re.IGNORECASE | re.MULTILINE)


@dataclass
class Evidence:
    line: int  # 1-based line number in the original log
    text: str  # redacted


@dataclass
class Analysis:
    category: str  # taxonomy id, e.g. "dependency"; "unknown" when none could be determined
    root_cause: str
    fix: str
    evidence: list[Evidence] = field(default_factory=list)
    found: bool = True  # the distiller found failure cues in the log
    valid: bool = True  # the model's answer parsed as the 3-line format as it was
    repaired: bool = False  # some field had to be recovered from a malformed answer
    raw: str = ""  # the model's answer as generated
    notes: list[str] = field(default_factory=list)
    kb: list[dict] = field(default_factory=list)  # the knowledge-base entries that fit the log, the one used first
    degenerate: bool = False  # the model's answer looped or repeated itself and was replaced by the failure line

    @property
    def category_name(self) -> str:
        return BY_ID[self.category].name if self.category in BY_ID else self.category

    def to_dict(self) -> dict:
        d = asdict(self)
        d["category_name"] = self.category_name
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    def to_text(self, evidence: bool = True) -> str:
        out = [f"Category: {self.category_name}", f"Root Cause: {self.root_cause}", f"Fix: {self.fix}"]
        if self.kb:
            k = self.kb[0]
            out.append(f"Knowledge base: {k['id']}" + (f" ({k['title']})" if k.get("title") else "")
                       + (f", from {k['source']}" if k.get("source") else ""))
        if evidence and self.evidence:
            out.append("Evidence:")
            out += [f"  {e.line}: {e.text}" for e in self.evidence]
        out += [f"Note: {n}" for n in self.notes]
        return "\n".join(out)


def parse_model_answer(text: str) -> tuple[dict, bool, bool]:
    """(fields, valid, repaired) from a model answer; fields always has category/root_cause/fix."""
    parsed = parse_answer(text)
    if parsed and parsed["category"]:
        return parsed, True, False
    found: dict[str, str] = {}
    for key, value in _FIELD.findall(text):
        k = key.lower().replace(" ", "").replace("_", "").replace("-", "")
        name = {"category": "category", "rootcause": "root_cause", "cause": "root_cause", "fix": "fix", "solution": "fix"}[k]
        found.setdefault(name, value.strip().strip("*").strip())  # `**Fix:** ...`: Markdown, not the fix
    category = parse_category(found["category"]) if "category" in found else None
    if category is None:
        category = parse_category(text) or "unknown"
    fields = {"category": category, "root_cause": found.get("root_cause", ""), "fix": found.get("fix", "")}
    if not fields["root_cause"]:
        fields["root_cause"] = "the model's answer did not state a root cause"
    if not fields["fix"]:
        fields["fix"] = "the model's answer did not state a fix"
    return fields, False, True


_QUOTE = re.compile(r"`([^`]+)`")


def quote_note(root_cause: str, excerpt: Excerpt) -> str | None:
    """A note when the root cause quotes (in backticks) text that is not in the log: a small model blends lines and
    numbers ("Tests run: 253, Failures: 1" where the log says 94 and 0). Reported, not rewritten: the nearest log line
    is often a different line, and a verbatim but wrong quote would read as evidence."""
    m = _QUOTE.search(root_cause)
    quote = m.group(1).strip().rstrip("…").strip() if m else ""
    if not quote:
        return None
    best, best_no = 0.0, 0
    for no, text in excerpt.lines:
        quoted = quote_form(text)  # the recipe's answers quote lines this way: still the log's text
        if quote in text or quote in quoted:
            return None
        ratio = difflib.SequenceMatcher(None, quote, quoted[:400], autojunk=False).ratio()
        if ratio > best:
            best, best_no = ratio, no
    if best >= 0.75:
        return f"the root cause's quote is not verbatim in the log; the closest log line is {best_no}"
    return "the root cause quotes text that is not in the log"


def evidence_of(excerpt: Excerpt, limit: int = 8) -> list[Evidence]:
    texts = dict(excerpt.lines)
    return [Evidence(no, texts.get(no, "")) for no in excerpt.failure_lines[:limit]]


# A run of 3+ characters repeated 4+ times in a row ("src/src/src/src/", "exec/exec/exec/exec"), or an answer whose
# words are mostly repeats: what a small model's greedy decoding falls into when it loses the thread.
# A unit with no letters or digits ("=====", "-----") is a log's ruler, not a loop.
_LOOP = re.compile(r"((?=[^\n]*?[^\W_][^\n]*?[^\W_]).{3,40}?)\1{3,}", re.DOTALL)


def degenerate(text: str) -> bool:
    """True when an answer field loops: a short run repeated 4+ times, or under 40% distinct words over 12+ words."""
    if _LOOP.search(text):
        return True
    words = re.findall(r"\w+", text.lower())
    return len(words) >= 12 and len(set(words)) / len(words) < 0.4


def failure_line(excerpt: Excerpt) -> tuple[int, str] | None:
    """The line that best says what failed: the distiller's strongest failure cue, the last of equals (the error that
    ended the job comes after the warnings before it). The runner's own closing line ("Process completed with exit
    code 1.", "ERROR: Job failed: exit code 1") and warnings are not that line when another is there: when they are
    all the distiller flagged, the strongest of the last lines before them is taken. On the 177 today's-failures dev
    cases buried in 2,000-line job logs, the line came from the failure itself for 72 before, 150 after (similarity
    of the line to the thread's root cause 0.150 -> 0.459; pasted, 0.462 -> 0.501)."""
    from tunesmith.logs.cues import weigh

    texts = dict(excerpt.lines)

    def generic(text: str) -> bool:
        return bool(_CLOSING.search(text) or _WARNING_ANY.search(text))

    candidates = [no for no in excerpt.failure_lines if not generic(texts.get(no, ""))]
    if not candidates:
        end = min(excerpt.failure_lines, default=None)
        candidates = [no for no, text in excerpt.lines
                      if (end is None or no < end) and text.strip() and not generic(text)][-_NEAR_END:]
        candidates = candidates or list(excerpt.failure_lines)
    best = None
    for no in candidates:
        w = weigh(texts.get(no, ""))[0]
        if best is None or w >= best[0]:
            best = (w, no)
    if best is None:
        return excerpt.lines[-1] if excerpt.lines else None
    return best[1], texts[best[1]]


# A CI runner's closing line for a failed step or job: GitHub Actions, GitLab, Jenkins, Travis.
_CLOSING = re.compile(r"Process completed with exit code \d+|\bJob failed\b|^\s*Finished: (?:FAILURE|ERROR)\b|"
                      r"script returned exit code \d+|The command \".*\" (?:failed and )?exited with \d+", re.I)
# Wider than `_WARNING` below (also "warnings summary", "DeprecationWarning"): here a warning only loses to another
# line, while kb_lines drops lines from matching, where the narrower pattern was the one measured on BugSwarm dev.
_WARNING_ANY = re.compile(r"\bWARN(?:ING|INGS)?\b|^\s*warning:|[a-z]Warning\b", re.I)
_NEAR_END = 30  # lines before the closing line to look in: the failing step's own output, not earlier steps'


_WARNING = re.compile(r"\bWARN(?:ING)?\b|^\s*warning:", re.IGNORECASE)


def kb_lines(excerpt: Excerpt) -> list[tuple[int, str]]:
    """The lines a knowledge-base entry may fit. A warning line ("npm WARN enoent ... package.json", "[WARNING] Failure
    to transfer") is the failure only when no error-level line says otherwise: in a long job log it is usually noise
    before the real failure. On the 107 held-out BugSwarm dev logs this takes the wrong entry answers from 6 to 3 of 29,
    and changes none of the 177 today's-failures dev cases (a pasted EBADENGINE warning is still matched)."""
    from tunesmith.logs.cues import weigh

    texts = dict(excerpt.lines)
    strong = any(weigh(texts.get(n, ""))[0] >= 3 and not _WARNING.search(texts.get(n, "")) for n in excerpt.failure_lines)
    return [(n, t) for n, t in excerpt.lines if not (strong and _WARNING.search(t))]


def from_knowledge(match: Match, others: list[Match], excerpt: Excerpt) -> Analysis:
    """The answer of a knowledge-base entry that fits the log, with the log's own entity filled in."""
    notes = list(excerpt.notes)
    for o in others:
        if o.score >= match.score:  # two entries fit equally: say so rather than hide the choice
            notes.append(f"knowledge-base entry {o.entry.id} fits this log equally well: {o.cause}")
    evidence = evidence_of(excerpt)
    if match.line not in {e.line for e in evidence}:
        evidence.insert(0, Evidence(match.line, match.text))
    # The entry says what the failure means; the log's own line says which file, package or action it is about (on
    # the dev cases: key entity named 0.58 -> 0.92, root-cause similarity 0.655 -> 0.643).
    cause = f"{match.cause} The log says: `{match.text.strip()[:200]}`"
    return Analysis(match.entry.category, cause, match.fix, evidence, True, True, False, "", notes,
                    [m.to_dict() for m in [match, *others]])


class Analyzer:
    """Holds a loaded model and knowledge base; `analyze` one log or `analyze_many` (batched generation) for the server.

    `generator` replaces the run's own model (a test's scripted one, or a `RemoteGenerator` asking a model server);
    given with `run` too, the run still provides the category prior and the tokenizer that counts the excerpt's budget.
    """

    def __init__(self, run: str | os.PathLike | None = None, budget: int = DEFAULTS.budget,
                 max_new_tokens: int = DEFAULTS.max_new_tokens, generator=None, constrain_category: bool = True,
                 prior: CategoryPrior | None | bool = DEFAULTS.prior, prior_weight: float = DEFAULTS.prior_weight,
                 kb: KnowledgeBase | None | bool = DEFAULTS.use_kb):
        self._generator, self._source, tok = generator, None, None
        if generator is None or run is not None:
            self._source = resolve_run(run)
            if prior is True:  # the run's own prior, fitted on its training data (`tunesmith logs fit-prior`)
                prior = CategoryPrior.load(self._source)
            tok = _run_tokenizer(self._source, light=generator is not None)
        if kb is True:  # the built-in entries and the project's own (.tunesmith/kb.jsonl in the working directory)
            kb = KnowledgeBase.load([PROJECT_KB] if PROJECT_KB.is_file() else [])
        self.kb = kb or None
        self.prior = prior if isinstance(prior, CategoryPrior) and constrain_category else None
        self.prior_weight = prior_weight
        self.budget = budget  # tunesmith.logs.settings says why 1,024
        self.max_new_tokens = max_new_tokens
        # The answer's first line is forced to be one of the taxonomy's names, so the category always parses.
        self.starts = [f"Category: {c.name}\n" for c in CATEGORIES] if constrain_category else None
        tok = tok or self.generator.tokenizer
        self._count = lambda s: len(tok(s, add_special_tokens=False)["input_ids"])

    @property
    def generator(self):
        """The model, loaded on first use: a log that a knowledge-base entry answers never waits for it (loading and
        merging the adapter is most of a cold start)."""
        if self._generator is None:
            from tunesmith.models.generate import load_generator

            self._generator = load_generator(self._source)
            # The root cause quotes the log: prompt-lookup decoding verifies those runs in one pass. On 8 BugSwarm
            # dev logs, same answers 8/8, median 1.17x faster (benchmarks/prompt_lookup.py); batches are unaffected.
            self._generator.prompt_lookup = PROMPT_LOOKUP
        return self._generator

    @generator.setter
    def generator(self, value) -> None:
        self._generator = value

    def category_bias(self, texts: list[str]):
        """prior_weight x the prior's log-probability of each category, in `self.starts` order (None: no prior).
        A category the prior never saw gets its least likely class's score: it can still win on the model's vote."""
        if self.prior is None:
            return None
        lp = self.prior.log_proba(texts)
        col = {c: j for j, c in enumerate(self.prior.classes)}
        return [[self.prior_weight * (row[col[c.id]] if c.id in col else row.min()) for c in CATEGORIES] for row in lp]

    def excerpt(self, source) -> Excerpt:
        # distill redacts every line it emits (statefully, so private key blocks spanning lines go too); redacting the
        # whole log first cost 5 s on a 200k-line log for lines the excerpt never keeps.
        return distill(source, budget=self.budget, count_tokens=self._count)

    def analyze(self, source) -> Analysis:
        return self.analyze_many([source])[0]

    def analyze_many(self, sources) -> list[Analysis]:
        excerpts = [self.excerpt(s) for s in sources]
        results: list[Analysis | None] = [None] * len(excerpts)
        asks = []
        for i, ex in enumerate(excerpts):
            matches = self.kb.match(kb_lines(ex)) if self.kb is not None and ex.lines else []
            if matches:
                results[i] = from_knowledge(matches[0], matches[1:], ex)
            elif not ex.found:
                note = "the log is empty or unreadable" if not ex.lines else "no failure cue (error, exception, exit code) in the log"
                results[i] = Analysis("unknown", *NO_FAILURE, evidence=[], found=False, notes=[note] + ex.notes)
            else:
                asks.append(i)
        if asks:
            texts = [excerpts[i].text for i in asks]
            bias = self.category_bias(texts)
            gens = self.generator.generate(texts, max_new_tokens=self.max_new_tokens, starts=self.starts,
                                           start_bias=bias)
            # A model server cannot be made to start with a taxonomy name (RemoteGenerator.constrained is False): its
            # Category line is parsed from the text, and the prior answers when that line names no known category.
            fallback = bias if self.starts and not getattr(self.generator, "constrained", True) else None
            for k, (i, g) in enumerate(zip(asks, gens)):
                results[i] = self._from_model(g, excerpts[i], None if fallback is None else fallback[k])
        return results  # type: ignore[return-value]

    def _from_model(self, g, excerpt: Excerpt, prior_row=None) -> Analysis:
        fields, valid, repaired = parse_model_answer(g.text)
        notes = list(excerpt.notes)
        if repaired:
            notes.append("the model's answer was malformed; fields were recovered from it")
        if prior_row is not None and fields["category"] == "unknown":
            # Only a remote model gets here: in process the Category line is forced to a taxonomy name (StartsWith).
            # Without model scores to multiply, the model's own category stands whenever it names one.
            best = max(range(len(CATEGORIES)), key=lambda j: prior_row[j])
            fields["category"] = CATEGORIES[best].id
            notes.append(f"the model's answer named no category of the taxonomy; the category is the run's prior's "
                         f"({CATEGORIES[best].name})")
        if not g.stopped:
            notes.append(f"the answer was cut at {self.max_new_tokens} tokens")
        loops = degenerate(fields["root_cause"]) or degenerate(fields["fix"])
        if loops:
            # A loop reads as nonsense and hides the evidence: answer with the log's own failure line instead.
            no, text = failure_line(excerpt) or (0, "")
            fields["root_cause"] = f"The job failed at log line {no}: `{text.strip()[:300]}`"
            if degenerate(fields["fix"]):
                fields["fix"] = "no fix could be proposed for this failure; start from the failure line above"
            notes.append("the model's answer repeated itself and was replaced by the log's failure line")
            valid = False
        else:
            if note := quote_note(fields["root_cause"], excerpt):
                notes.append(note)
            # The model's sentence, then the log's own failure line: on the 177 today's-failures dev cases (own kind
            # left out of the knowledge base) root-cause similarity 0.407 -> 0.527, key entity named 0.454 -> 0.782.
            line = failure_line(excerpt)
            if line and line[1].strip() and line[1].strip() not in fields["root_cause"]:
                fields["root_cause"] = f"{fields['root_cause'].rstrip()} The log says: `{line[1].strip()[:200]}`"
        return Analysis(fields["category"], fields["root_cause"], fields["fix"], evidence_of(excerpt), True, valid,
                        repaired, g.text, notes, degenerate=loops)


class _FileTokenizer:
    """Counts with a tokenizer.json through the `tokenizers` library alone: the same ids as transformers' fast
    tokenizer without special tokens, without importing transformers and torch (seconds, and a big install)."""

    def __init__(self, path: Path):
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(path))

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict:
        return {"input_ids": self._tok.encode(text, add_special_tokens=add_special_tokens).ids}


def _run_tokenizer(source: str, light: bool = False):
    """The run's own tokenizer files (the excerpt is counted in the model's tokens), or None to take the model's.
    `light`: when no model is loaded here (a model server answers), count with tokenizer.json alone."""
    from tunesmith.models.run_dir import find_model_dir

    mdir = find_model_dir(source)
    if mdir is None:
        return None
    if light and (mdir / "tokenizer.json").is_file():
        return _FileTokenizer(mdir / "tokenizer.json")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(mdir)


def endpoint_system_prompt(source: str | os.PathLike) -> str:
    """What a model server's model is told: the run's system prompt, the answer's exact form and the taxonomy's names.
    In process the answer is forced to begin with one of those names; a server cannot be made to, and a general model
    never learnt them, so it is told them instead."""
    from tunesmith.models.run_dir import run_meta

    system = (run_meta(source).get("system_prompt") or "You analyze failed CI logs. Answer with three lines: Category, "
              "Root Cause, Fix.").strip()
    names = ", ".join(c.name for c in CATEGORIES)
    return (f"{system}\nAnswer with exactly these three lines and nothing else:\nCategory: <one of: {names}>\n"
            "Root Cause: <one sentence naming the failing file, test, package or command>\nFix: <one sentence>")


def remote_analyzer(endpoint: str, run: str | os.PathLike | None = None, *, api_key: str | None = None,
                    model: str | None = None, timeout: float | None = None, **settings) -> Analyzer:
    """An Analyzer whose model answers at an OpenAI-compatible `endpoint`; the redaction, distillation, knowledge base,
    parsing and the run's prior (default run: the bundled adapter) all stay here. Nothing is sent before a log needs
    the model, and then only its redacted excerpt."""
    from tunesmith.models.remote import DEFAULT_TIMEOUT, RemoteGenerator

    source = resolve_run(run)
    gen = RemoteGenerator(endpoint, api_key=api_key, model=model, system_prompt=endpoint_system_prompt(source),
                          timeout=DEFAULT_TIMEOUT if timeout is None else timeout)
    return Analyzer(source, generator=gen, **settings)


def resolve_run(run: str | os.PathLike | None) -> str:
    """The user's run when given, else the adapter shipped with tunesmith; a clear error when neither exists."""
    if run is not None:
        return str(run)
    from tunesmith.models.run_dir import find_model_dir

    if find_model_dir(BUNDLED_ADAPTER) is not None:
        return str(BUNDLED_ADAPTER)
    raise FileNotFoundError(
        "no bundled analyzer adapter in this install; train one with "
        "`tunesmith train examples/ci-failures/config.yaml` and pass --run runs/ci-failures"
    )


__all__ = ["Analysis", "Analyzer", "Evidence", "degenerate", "endpoint_system_prompt", "failure_line", "parse_model_answer",
           "remote_analyzer", "resolve_run", "BUNDLED_ADAPTER"]
