"""What a person reads after a run: the loss curve (loss.png) and a short summary.md."""

from __future__ import annotations

from pathlib import Path


def plot_loss(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt


    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    steps = [r["step"] for r in history]
    ax.plot(steps, [r["loss"] for r in history], label="train loss", lw=1.2)
    ev = [(r["step"], r["eval_loss"]) for r in history if "eval_loss" in r]
    if ev:
        ax.plot(*zip(*ev), "o-", label="eval loss", lw=1.5)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (mean token cross-entropy)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = Path(path).with_suffix(".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)


def write_summary(s, path: Path) -> None:
    from tunesmith.train.checkpoint import atomic_write_text
    from tunesmith.train.methods import resolve_lr

    h = s.history
    last = h[-1] if h else {}
    evals = [r["eval_loss"] for r in h if "eval_loss" in r]
    tps = [r["tokens_per_s"] for r in h[1:]] or [r["tokens_per_s"] for r in h]
    d = s.data_report
    template = "tunesmith fallback (base model has none)" if d["chat_template_fallback"] else "the model's own"
    lines = [
        f"# Run {s.run.name}",
        "",
        f"- base model: `{s.cfg.model}`; method: **{s.cfg.method}**; precision: {s.meta['precision']}",
        f"- data: {d['train_examples']} train / {d['eval_examples']} eval examples in {len(s.train_rows)} rows "
        f"(batching {s.cfg.batching}); truncated {d['truncated']}, dropped {d['dropped']}",
        f"- length: {s.plan.describe()}" if s.plan else "- length: not recorded",
        f"- learning rate: {resolve_lr(s.cfg.lr, s.cfg.method)[1]}, the peak",
        f"- steps: {last.get('step', 0)} of {s.total_steps}"
        + (f" (early stop: {s.watch.bad_evals} evaluations without improvement)" if s.watch.stop else "")
        + f"; final train loss {last.get('loss', float('nan')):.4f}",
        f"- eval loss: first {evals[0]:.4f}, last {evals[-1]:.4f}, best {min(evals):.4f}" if evals else "- eval loss: no eval split",
        f"- throughput: {sum(tps) / max(1, len(tps)):.0f} tokens/s (mean over steps, excluding the first)",
        f"- chat template: {template}",
        f"- result: {s.result}",
        "",
        "Result in `model/` (load with `tunesmith.load(run_dir)` or `PeftModel.from_pretrained`); curve in `loss.png`.",
        "",
    ]
    atomic_write_text(path, "\n".join(lines))


__all__ = ["plot_loss", "write_summary"]
