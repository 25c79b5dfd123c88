"""The analyzer's settings, defined once: the `Analyzer`'s defaults and the options of `tunesmith analyze`, `serve`,
`ci-report` and `logs distill` (`tunesmith.logs.options`) all come from `DEFAULTS`, so no command can drift from the
others or from what was measured.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULTS", "AnalyzerSettings"]


@dataclass(frozen=True)
class AnalyzerSettings:
    # Tokens of the log excerpt the model sees. The recipe's corpus is distilled at the same 1,024 tokens (0.815
    # BugSwarm dev accuracy vs 0.704 for an adapter that saw 768-token excerpts in training, n=54); on unseen LogChunks
    # logs the whole failure chunk is kept in 0.76 of them at 1024, 0.88 at 4096.
    budget: int = 1024
    # Upper bound on the answer's tokens: a 3-line answer is 40-90 tokens; a cut answer is flagged in its notes.
    max_new_tokens: int = 160
    # Weigh the run's category prior into the Category (`tunesmith logs fit-prior`).
    prior: bool = True
    # How much the prior weighs against the model's own vote on the Category line (0 = the model alone). Chosen on the
    # recipe corpus's 230 held-out dev examples (BugSwarm, LogChunks, synthetic), scoring each category's whole first
    # line under the fine-tuned model: weight 0 -> 0.51 accuracy, 1 -> 0.68, 4 -> 0.76, 20 -> 0.80, 50 -> 0.80,
    # 1000 -> 0.80 (benchmarks/prior_weight.py); 20 leaves the model a say where the prior is unsure. End to end on the
    # 107 held-out BugSwarm dev logs: 0.785 -> 0.935 (results/analyzer_accuracy_dev_heldout_prior.json).
    prior_weight: float = 20.0
    # Answer from the failure knowledge base when an entry fits the log (built-in entries and .tunesmith/kb.jsonl).
    use_kb: bool = True


DEFAULTS = AnalyzerSettings()
