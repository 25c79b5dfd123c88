"""The analyzer's command-line options, defined once for `tunesmith analyze`, `serve`, `ci-report` and `logs distill`:
same names, same help, defaults from `tunesmith.logs.settings.DEFAULTS`. `build_analyzer` turns them into an Analyzer
the same way for each command (in process, or asking a model server with `--endpoint`)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import typer

from tunesmith.logs.settings import DEFAULTS

__all__ = ["BUDGET", "KB", "MAX_NEW_TOKENS", "PRIOR", "PRIOR_WEIGHT", "USE_KB", "build_analyzer", "knowledge_base"]

BUDGET = typer.Option(
    DEFAULTS.budget, "--budget", min=16,
    help="Token budget of the log excerpt the model sees (SmolLM2 tokenizer). More room keeps more of the failure: on "
         "unseen LogChunks logs the whole failure chunk is kept in 0.76 of them at 1024, 0.88 at 4096.")
MAX_NEW_TOKENS = typer.Option(DEFAULTS.max_new_tokens, "--max-new-tokens", min=1,
                              help="Upper bound on an analysis answer's tokens; a cut answer says so in its notes.")
PRIOR = typer.Option(
    DEFAULTS.prior, "--prior/--no-prior",
    help="Weigh the run's category prior (fitted on its training examples by `tunesmith logs fit-prior`) into the "
         "Category; --no-prior: the model alone. With --endpoint the prior answers only when the model names no category.")
PRIOR_WEIGHT = typer.Option(DEFAULTS.prior_weight, "--prior-weight", min=0.0,
                            help="How much the prior weighs against the model's vote on the Category (0 = the model alone).")
KB = typer.Option([], "--kb", help="A knowledge-base file to retrieve from, besides the built-in one and "
                  ".tunesmith/kb.jsonl (repeatable; `tunesmith logs kb add` writes entries).")
USE_KB = typer.Option(DEFAULTS.use_kb, "--kb-retrieval/--no-kb", help="--no-kb: the model alone, no knowledge base.")


def knowledge_base(use_kb: bool, files: list[Path], warn: Callable[[str], None]):
    """The knowledge base the options ask for (False for none); each bad line of its files is warned about."""
    if not use_kb:
        return False
    from tunesmith.logs.kb import PROJECT_KB, KnowledgeBase

    kb = KnowledgeBase.load([*([PROJECT_KB] if PROJECT_KB.is_file() else []), *files])
    for p in kb.problems:  # bad lines are skipped, and said
        warn(f"warning: {p}")
    return kb


def build_analyzer(run: Path | str | None, *, budget: int = DEFAULTS.budget,
                   max_new_tokens: int = DEFAULTS.max_new_tokens, prior: bool = DEFAULTS.prior,
                   prior_weight: float = DEFAULTS.prior_weight, kb: list[Path] = (), use_kb: bool = DEFAULTS.use_kb,
                   endpoint: str | None = None, model: str | None = None, api_key: str | None = None,
                   timeout: float | None = None, warn: Callable[[str], None] = print):
    """The Analyzer for these options: the run's model in process, or with `endpoint` a model server's (the run, by
    default the bundled adapter, then gives the prior and the token counts). FileNotFoundError when there is no run;
    EndpointError for a malformed endpoint URL."""
    from tunesmith.logs.analyze import Analyzer, remote_analyzer

    settings = dict(budget=budget, max_new_tokens=max_new_tokens, prior=prior, prior_weight=prior_weight,
                    kb=knowledge_base(use_kb, list(kb), warn) or False)
    if endpoint:
        return remote_analyzer(endpoint, run, api_key=api_key, model=model, timeout=timeout, **settings)
    return Analyzer(run, **settings)
