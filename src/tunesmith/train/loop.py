"""`tunesmith train`, top to bottom: setup() builds everything, fit() runs the optimizer steps, finish() writes the result.

No trainer class and no callbacks: the backward, clipping, optimizer and scheduler steps are in plain sight in fit().
accelerate supplies the device, bf16 autocast and several processes; the same code runs on one CPU or many GPUs, and
unchanged under `torchrun` or `accelerate launch` (data parallel: each process takes its share of every epoch's
micro-batches, gradients are averaged once per step, and only the main process writes the run dir).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import shutil
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from rich.console import Console

from tunesmith.output import console as make_console

from tunesmith.data.transform import IGNORE
from tunesmith.models.run_dir import CONFIG, LOSS_PLOT, METRICS, SUMMARY, provenance
from tunesmith.models.weights import WeightsMismatch
from tunesmith.train import checkpoint as ck
from tunesmith.train.best import EvalWatch, place_result, resolve_patience, save_best
from tunesmith.train.batches import Row, collate, encode_all, epoch_batches, forward_passes, pack
from tunesmith.train.config import TrainConfig, dump_config
from tunesmith.train.loss import CausalLMLoss, step_scale
from tunesmith.train.methods import apply_method, needs_4bit, resolve_lr
from tunesmith.train.plan import Plan, plan_length
from tunesmith.train.report import plot_loss, write_summary
from tunesmith.train.resume import check_resume, fingerprint, refusal


class TrainingError(RuntimeError):
    """A problem that stops training before it starts, already worded for the user."""


@dataclass
class Setup:
    cfg: TrainConfig
    run: Path
    accelerator: object
    model: torch.nn.Module  # the (PEFT-wrapped) causal LM
    loss_module: torch.nn.Module  # CausalLMLoss around it, as prepared by accelerate
    tokenizer: object
    train_rows: list[Row]
    eval_rows: list[Row]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    total_steps: int
    batches_per_epoch: int
    meta: dict
    data_report: dict
    forward_tokens: int | None = None  # the resolved max_forward_tokens
    start_step: int = 0
    history: list[dict] = field(default_factory=list)
    watch: EvalWatch = field(default_factory=lambda: EvalWatch(None))  # best step and early stopping
    result: str = ""  # which step model/ is, and why (summary.md, run.log)
    plan: Plan | None = None  # the run's length and why (epochs: auto)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_precision(cfg: TrainConfig) -> str:
    """bf16 where the hardware has fast bf16 matmuls (AMX CPUs, Ampere+ GPUs); fp32 otherwise.

    AVX512-BF16 alone is not enough: measured on such a CPU without AMX, a bf16 matmul ran at 0.6x the fp32 speed.
    """
    if cfg.precision != "auto":
        return cfg.precision
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)() else "fp32"


def on_cpu() -> bool:
    """No accelerator on this machine: accelerate must be told, or under torchrun it runs each process alone."""
    available = getattr(getattr(torch, "accelerator", None), "is_available", None)
    return not (available() if available else torch.cuda.is_available())


def pick_forward_tokens(cfg: TrainConfig) -> int | None:
    """auto: passes of at most 512 tokens on CPU, one pass per micro-batch on a GPU (where small passes idle it).

    Measured on an idle 2-core CPU (SmolLM2-135M, LoRA, 4 × 512 tokens): 512-token passes ran at 1.18x the speed of one
    pass with 0.39x its peak RSS (3.2 vs 8.2 GB; benchmarks/README.md, levers).
    """
    if cfg.max_forward_tokens != "auto":
        return cfg.max_forward_tokens
    return None if torch.cuda.is_available() else 512


def prepare_run_dir(cfg: TrainConfig, resume: bool, overwrite: bool, allow_config_change: bool = False) -> Path:
    run = Path(cfg.output_dir)
    if run.exists() and any(run.iterdir()):
        if resume:
            latest, skipped = ck.resumable_checkpoint(run)  # a checkpoint cut off mid-write is never loaded
            if latest is None:
                raise TrainingError(f"{run}: --resume given but the run dir has no checkpoint to resume from" + (
                    " (no complete checkpoint:\n  " + "\n  ".join(skipped) + ")" if skipped else ""))
            for why in skipped:
                ck.log_line(run, f"resume: skipped {why}; resuming from {latest.name}")
                make_console(stderr=True).print(f"[yellow]skipped {why}; resuming from {latest.name}[/]")
            refused = check_resume(cfg, run, latest, allow_config_change)  # the config and inputs, as trained
            if refused:
                raise TrainingError(refused)
            return run
        if not overwrite:
            raise TrainingError(f"{run} already exists; pass --resume to continue it or --overwrite to start over")
        shutil.rmtree(run)
    elif resume:
        raise TrainingError(f"{run}: --resume given but there is no such run")
    run.mkdir(parents=True, exist_ok=True)
    return run


def load_data(cfg: TrainConfig, tokenizer, console: Console):
    """Run the same checks as `tunesmith data validate`; refuse to train while errors remain."""
    from tunesmith.data.split import split_examples
    from tunesmith.data.validate import validate_files

    report = validate_files(cfg.train_file, cfg.eval_file, tokenizer=tokenizer, max_seq_len=cfg.max_seq_len)
    for w in report.warnings:
        console.print(f"[yellow]{w}[/]")
    if report.errors:
        raise TrainingError("the data has errors; fix them first (see `tunesmith data validate`):\n"
                            + "\n".join(str(e) for e in report.errors))
    train, held_out = list(report.examples), list(report.eval_examples or [])
    if not held_out and cfg.eval_fraction > 0 and len(train) >= 10:
        # Grouped split: identical and near-identical inputs stay on one side, so eval loss is not leaked.
        split = split_examples(train, cfg.eval_fraction, cfg.seed)
        train, held_out = split.train, split.eval
    return sample(train, cfg.max_train_examples, cfg.seed), sample(held_out, cfg.max_eval_examples, cfg.seed)


def sample(examples: list, n: int | None, seed: int) -> list:
    """A seeded sample of n examples in their original order (all of them when n is None or larger)."""
    if n is None or n >= len(examples):
        return examples
    keep = set(random.Random(seed).sample(range(len(examples)), n))
    return [e for i, e in enumerate(examples) if i in keep]


def setup(cfg: TrainConfig, run: Path, resume: bool = False, console: Console | None = None,
          allow_config_change: bool = False) -> Setup:
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    from tunesmith.models import load_model, resolve

    console = console or make_console()
    precision = pick_precision(cfg)
    # accelerate keeps its mixed-precision choice process-wide; one process may run several trainings (Python API,
    # benchmarks) with different precisions, so each setup starts from a clean state (the distributed state is kept).
    AcceleratorState._reset_state()
    tracker = None if cfg.report_to == "none" else cfg.report_to
    accelerator = Accelerator(mixed_precision="bf16" if precision == "bf16" else "no", cpu=on_cpu(), log_with=tracker,
                              project_dir=str(run / TRACKING) if tracker else None)
    sharded = accelerator.distributed_type.value
    if sharded in ("FSDP", "DEEPSPEED", "MEGATRON_LM"):
        # Under these each process holds a shard of the weights or optimizer state; save() writes one process's.
        raise TrainingError(f"accelerate config uses {sharded}: not supported yet (checkpoints and model/ are written "
                            "from the main process's weights and optimizer state, which would be a shard). Use data "
                            "parallel (examples/accelerate/multi_gpu.yaml): each process holds the whole model, which "
                            "for LoRA/QLoRA on a small model fits one GPU.")
    if tracker:
        start_tracking(accelerator, cfg, run)
    seed_everything(cfg.seed)

    model, tokenizer = load_model(cfg.model, load_in_4bit=needs_4bit(cfg))
    fallback = bool(tokenizer.init_kwargs.get("tunesmith_fallback_template"))
    if fallback:
        console.print("[yellow]base model has no chat template: using tunesmith's fallback template[/]")
    model.config.use_cache = False

    train_ex, eval_ex = load_data(cfg, tokenizer, console)
    encode_args = (tokenizer, cfg.max_seq_len, cfg.on_overflow, cfg.train_on_inputs, cfg.system_prompt)
    tr, ev = encode_all(train_ex, *encode_args), encode_all(eval_ex, *encode_args)
    errors = [p for p in tr.problems + ev.problems if p.level == "error"]
    if errors:
        raise TrainingError("examples longer than max_seq_len with on_overflow=error:\n" + "\n".join(map(str, errors)))
    if not tr.encoded:
        raise TrainingError(f"{cfg.train_file}: no trainable examples")
    for p in tr.problems + ev.problems:
        console.print(f"[yellow]{p}[/]")
    data_report = {
        "train_examples": len(tr.encoded), "eval_examples": len(ev.encoded),
        "truncated": len(tr.truncated) + len(ev.truncated), "dropped": len(tr.dropped) + len(ev.dropped),
        "chat_template_fallback": fallback,
    }
    if data_report["truncated"] or data_report["dropped"]:
        console.print(f"[yellow]{data_report['truncated']} examples truncated and {data_report['dropped']} dropped "
                      f"to fit max_seq_len={cfg.max_seq_len} (on_overflow={cfg.on_overflow})[/]")

    train_rows = pack(tr.encoded, cfg.max_seq_len, cfg.batching == "packed", cfg.seed)
    eval_rows = pack(ev.encoded, cfg.max_seq_len, cfg.batching == "packed", cfg.seed)
    plan = plan_length(cfg, train_rows, len(tr.encoded), len(ev.encoded), accelerator.num_processes)
    total_steps, batches_per_epoch = plan.total_steps, plan.batches_per_epoch
    console.print(f"length: {plan.describe()}")
    if eval_rows:
        console.print(plan.eval_why)

    if cfg.gradient_checkpointing:
        # Keeps each decoder layer's input and recomputes the rest in backward (renamed in transformers 5.x).
        enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
        enable({"use_reentrant": False})
    torch.manual_seed(cfg.seed)  # adapter init depends on it, independent of how much data loading consumed
    model = apply_method(model, cfg)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=resolve_lr(cfg.lr, cfg.method)[0], weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total_steps, cfg.warmup_ratio))
    loss_module, optimizer = accelerator.prepare(CausalLMLoss(model, cfg.label_logits_only), optimizer)

    meta = {
        "base_model": cfg.model, "base_model_path": str(resolve(cfg.model)),
        "method": cfg.method, "max_seq_len": cfg.max_seq_len, "system_prompt": cfg.system_prompt,
        "chat_template_fallback": fallback, "precision": precision, "planned_steps": total_steps,
        "inputs": fingerprint(cfg), "processes": accelerator.num_processes, **provenance(),
    }
    s = Setup(cfg, run, accelerator, model, loss_module, tokenizer, train_rows, eval_rows, optimizer, scheduler,
              total_steps, batches_per_epoch, meta, data_report, pick_forward_tokens(cfg), plan=plan)
    if resume:
        latest = ck.latest_checkpoint(run)
        try:
            ck.load_trainable(model, latest)
            state = ck.load_training_state(latest, optimizer, scheduler)
        except WeightsMismatch as e:
            raise TrainingError(f"cannot resume: {e}") from None
        except Exception as e:  # an unreadable file in a checkpoint older than the manifest (checkpoint_problem)
            raise TrainingError(f"cannot resume from {latest}: it cannot be read ({type(e).__name__}: {e})") from None
        s.start_step, s.history = state["step"], state.get("history", [])
        if state.get("planned_steps", total_steps) != total_steps:
            # Same config, yet another length (e.g. epochs: auto over changed data): the schedule would differ.
            change = f"total steps: {state['planned_steps']} → {total_steps}"
            if not allow_config_change:
                raise TrainingError(refusal(run, latest, [change]))
            if accelerator.is_main_process:
                ck.log_line(run, f"resume from {latest.name}: {change} (allowed by --allow-config-change)")
        if state.get("effective_batch", plan.effective_batch) != plan.effective_batch:
            # Same config on another number of processes: each step would average over another number of rows.
            change = (f"effective batch: {state['effective_batch']} rows per step on {state.get('processes', 1)} "
                      f"process(es) → {plan.effective_batch} on {accelerator.num_processes}")
            if not allow_config_change:
                raise TrainingError(refusal(run, latest, [change]) + "\n(or set grad_accum so that batch_size × "
                                    "processes × grad_accum stays the same)")
            if accelerator.is_main_process:
                ck.log_line(run, f"resume from {latest.name}: {change} (allowed by --allow-config-change)")
        console.print(f"resuming {run} from {latest.name} (step {s.start_step}/{total_steps})")
        if accelerator.is_main_process:
            _rewrite_metrics(run, s.start_step)
    elif accelerator.is_main_process:
        ck.atomic_write_text(run / CONFIG, dump_config(cfg))
    if accelerator.is_main_process:
        ck.log_line(run, f"length: {plan.describe()}")
        if eval_rows:
            ck.log_line(run, plan.eval_why)
        ck.log_line(run, describe_batch(cfg, plan, accelerator))
    s.watch = EvalWatch.from_history(s.history, resolve_patience(cfg), cfg.early_stopping_min_delta)
    return s


TRACKING = "tracking"  # RUN/tracking/: TensorBoard event files, or MLflow's store when no MLFLOW_TRACKING_URI is set


def start_tracking(accelerator, cfg: TrainConfig, run: Path) -> None:
    """report_to: the tracker's run gets the config; metrics follow in log_metrics (from the main process only)."""
    from accelerate.tracking import get_available_trackers

    if cfg.report_to not in {t.value for t in get_available_trackers()}:
        package = {"tensorboard": "tensorboardX", "mlflow": "mlflow-skinny"}.get(cfg.report_to, cfg.report_to)
        package += " (pip install 'tunesmith[track]')"
        raise TrainingError(f"report_to: {cfg.report_to} needs {package}, which is not installed")
    if cfg.report_to == "mlflow" and not os.environ.get("MLFLOW_TRACKING_URI") and accelerator.is_main_process:
        import mlflow

        # Without a tracking server the run's own folder is the store, as TensorBoard's event files are. MLflow 3
        # refuses a directory store unless told it is wanted (it steers to a database server); here it is wanted.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        mlflow.set_tracking_uri((run / TRACKING / "mlruns").resolve().as_uri())
    flat = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in cfg.model_dump(mode="json").items()}
    accelerator.init_trackers(run.name, config=flat)


def describe_batch(cfg: TrainConfig, plan: Plan, accelerator) -> str:
    """The effective batch and learning rate, as run.log records them."""
    procs = accelerator.num_processes
    where = f"{procs} processes ({accelerator.distributed_type.value.lower()})" if procs > 1 else "1 process"
    return (f"effective batch: {plan.effective_batch} rows per optimizer step = {cfg.batch_size} per micro-batch × "
            f"{where} × {cfg.grad_accum} accumulated; {resolve_lr(cfg.lr, cfg.method)[1]}, the peak (AdamW, "
            f"{cfg.warmup_ratio:g} of steps warm-up, then cosine to 0)")


def warmup_cosine(total_steps: int, warmup_ratio: float):
    warmup = int(total_steps * warmup_ratio)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def step_batches(s: Setup, step: int) -> list[tuple[int, list[Row]]]:
    """(epoch, rows) of each micro-batch of optimizer step `step` for this process: a pure function of (seed, step).

    Process r of P takes micro-batches r, r+P, r+2P, ... of each epoch, so the processes share an epoch's examples out
    without overlap or loss. Where an epoch's micro-batches do not divide by P, a process left without one runs one row
    with every label masked: it takes part in the gradient sync and adds nothing to the loss or the gradient.
    """
    acc, cfg = s.accelerator, s.cfg
    out = []
    for m in range(step * cfg.grad_accum, (step + 1) * cfg.grad_accum):
        epoch, j = divmod(m, s.batches_per_epoch)
        batches = epoch_batches(s.train_rows, cfg.batch_size, cfg.seed, epoch, grouped=cfg.batching == "grouped")
        k = j * acc.num_processes + acc.process_index
        rows = [s.train_rows[i] for i in batches[k % len(batches)]]
        if k >= len(batches):
            short = min(rows, key=lambda r: len(r.input_ids))
            rows = [Row(short.input_ids, [IGNORE] * len(short.labels), short.position_ids)]
        out.append((epoch, rows))
    return out


def step_passes(s: Setup, step: int) -> list[list[Row]]:
    """The forward passes of optimizer step `step` for this process: grad_accum micro-batches of batch_size rows, each
    cut into passes of at most max_forward_tokens tokens."""
    return [p for _, rows in step_batches(s, step) for p in forward_passes(rows, s.forward_tokens)]


TRACE_ENV = "TUNESMITH_TRACE_EXAMPLES"  # set to 1: each process lists the examples it trains on (RUN/trace/rank-N.jsonl)


def trace_examples(s: Setup, step: int) -> None:
    """With TUNESMITH_TRACE_EXAMPLES=1, append this process's micro-batches of `step` (their decoded examples) to
    RUN/trace/rank-N.jsonl: how a test checks that the processes see each example once per epoch."""
    if os.environ.get(TRACE_ENV) != "1":
        return
    rank = s.accelerator.process_index
    path = s.run / "trace" / f"rank-{rank}.jsonl"
    path.parent.mkdir(exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        for epoch, rows in step_batches(s, step):
            texts = [s.tokenizer.decode(r.input_ids) for r in rows if r.n_labels]
            f.write(json.dumps({"step": step, "epoch": epoch, "rank": rank, "examples": texts}) + "\n")


def fit(s: Setup, console: Console | None = None) -> None:
    """The optimizer steps. Ctrl-C saves a resumable checkpoint at the last completed step."""
    from tunesmith.train.progress import TrainProgress

    cfg, acc = s.cfg, s.accelerator
    s.loss_module.train()
    pad = s.tokenizer.pad_token_id
    step = s.start_step
    try:
        with TrainProgress(s.total_steps, s.start_step, enabled=acc.is_main_process, console=console) as bar, \
                StepBoundaryInterrupt() as interrupt:
            while step < s.total_steps:
                if interrupt.requested:
                    raise KeyboardInterrupt
                t0 = time.perf_counter()
                trace_examples(s, step)  # only with TUNESMITH_TRACE_EXAMPLES=1
                passes = step_passes(s, step)
                local = torch.tensor(sum(r.n_labels for p in passes for r in p), device=acc.device)
                window_tokens = int(acc.reduce(local, reduction="sum").item())
                scale = step_scale(window_tokens, acc.num_processes)
                loss_sum, tokens = 0.0, 0
                for i, rows in enumerate(passes):
                    batch = {k: v.to(acc.device) for k, v in collate(rows, pad).items()}
                    # Gradients sync across processes once, at the step's last pass (processes may differ in passes).
                    with acc.no_sync(s.loss_module) if i < len(passes) - 1 else contextlib.nullcontext():
                        summed, _ = s.loss_module(**batch)
                        acc.backward(summed * scale)
                    loss_sum += summed.item()
                    tokens += sum(len(r.input_ids) for r in rows)
                # Every process logs the mean over the whole window (all processes), as one process would.
                loss_sum = acc.reduce(torch.tensor(loss_sum, dtype=torch.float64, device=acc.device), "sum").item()
                if cfg.max_grad_norm > 0:
                    acc.clip_grad_norm_(s.model.parameters(), cfg.max_grad_norm)
                s.optimizer.step()
                s.scheduler.step()
                s.optimizer.zero_grad(set_to_none=True)
                step += 1

                dt = time.perf_counter() - t0
                record = {"step": step, "loss": loss_sum / max(1, window_tokens),
                          "lr": s.scheduler.get_last_lr()[0], "tokens_per_s": tokens * acc.num_processes / dt}
                every = s.plan.eval_every  # eval_every resolved (auto: about 10 evaluations per run)
                if s.eval_rows and ((every and step % every == 0) or step == s.total_steps):
                    record["eval_loss"] = validate(s)
                    if s.watch.update(step, record["eval_loss"]) and acc.is_main_process:
                        save_best(s.run, step, record["eval_loss"], acc.unwrap_model(s.loss_module).model,
                                  s.tokenizer, s.meta)
                if step % cfg.log_every == 0 or "eval_loss" in record or step == s.total_steps:
                    log_metrics(s, record)
                bar.update(step, record)
                if s.watch.stop:  # every process measured the same eval loss, so all stop at this step
                    if acc.is_main_process:
                        ck.log_line(s.run, f"early stop at step {step}/{s.total_steps}: {s.watch.bad_evals} evaluations "
                                    f"without an eval-loss improvement of more than {cfg.early_stopping_min_delta} "
                                    f"(best {s.watch.best_loss:.4f} at step {s.watch.best_step})")
                    break
                if cfg.save_every and step % cfg.save_every == 0 and step < s.total_steps:
                    save(s, step)
    except KeyboardInterrupt:
        if acc.is_main_process and step > s.start_step:
            path = save(s, step)
            (console or make_console()).print(f"\n[yellow]interrupted: saved {path}; continue with --resume[/]")
        raise


class StepBoundaryInterrupt:
    """Defer Ctrl-C to the next step boundary, so a checkpoint never holds an optimizer half a step ahead of its
    step count. A second Ctrl-C interrupts at once."""

    def __enter__(self) -> "StepBoundaryInterrupt":
        self.requested = False
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def validate(s: Setup) -> float:
    """Mean token loss over the whole eval split (same loss function as training)."""
    s.loss_module.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        # Length-grouped whatever the training batching: the sum does not depend on batch composition, padding does.
        for idx in epoch_batches(s.eval_rows, s.cfg.batch_size, s.cfg.seed, 0, shuffle=False, grouped=True):
            rows = [s.eval_rows[i] for i in idx]
            batch = {k: v.to(s.accelerator.device) for k, v in collate(rows, s.tokenizer.pad_token_id).items()}
            summed, count = s.loss_module(**batch)
            total += summed.item()
            n += int(count)
    s.loss_module.train()
    return total / max(1, n)


def log_metrics(s: Setup, record: dict) -> None:
    s.history.append(record)
    s.accelerator.log(record, step=record["step"])  # report_to's tracker, if any (main process only)
    if s.accelerator.is_main_process:
        with open(s.run / METRICS, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def _rewrite_metrics(run: Path, upto: int) -> None:
    """On resume, forget metrics logged after the checkpoint (those steps run again)."""
    path = run / METRICS
    if path.exists():
        keep = []
        for ln in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                if json.loads(ln)["step"] <= upto:
                    keep.append(ln)
            except (ValueError, KeyError, TypeError):  # a line torn by a kill mid-append (always after the checkpoint)
                pass
        ck.atomic_write_text(path, "".join(ln + "\n" for ln in keep))


def save(s: Setup, step: int) -> Path:
    """A resumable checkpoint, written by the main process only: after a step every process holds the same weights
    (gradients are averaged before it), and every process resumes from this one checkpoint."""
    if not s.accelerator.is_main_process:
        return ck.checkpoint_dir(s.run, step)
    model = s.accelerator.unwrap_model(s.loss_module).model
    state = {"step": step, "total_steps": s.total_steps, "history": s.history,
             "planned_steps": s.meta["planned_steps"], "config": s.cfg.model_dump(mode="json"),
             "fingerprint": s.meta["inputs"], "processes": s.accelerator.num_processes,
             "effective_batch": s.plan.effective_batch if s.plan else None}
    return ck.save_checkpoint(s.run, step, model, s.tokenizer, s.optimizer, s.scheduler, state, s.meta, s.cfg.keep_checkpoints)


def finish(s: Setup) -> Path:
    """The result in the run dir: model/ (adapter or full weights), loss.png, summary.md."""
    if not s.accelerator.is_main_process:
        return s.run
    model = s.accelerator.unwrap_model(s.loss_module).model
    last_step = s.history[-1]["step"] if s.history else s.start_step
    s.result = place_result(s.run, s.cfg.save, s.watch, last_step, model, s.tokenizer, s.meta)
    ck.log_line(s.run, s.result)
    plot_loss(s.history, s.run / LOSS_PLOT)
    write_summary(s, s.run / SUMMARY)
    for tracker in s.accelerator.trackers:  # flushes TensorBoard's event file
        tracker.finish()
    return s.run


def main(cfg: TrainConfig, resume: bool = False, overwrite: bool = False, console: Console | None = None,
         allow_config_change: bool = False) -> Path:
    """CLI → main → fit → optimizer.step()."""
    from accelerate import PartialState

    state = PartialState(cpu=on_cpu())  # under torchrun or `accelerate launch`: joins the other processes
    if not state.is_main_process:
        console = console or make_console()
        console.quiet = True  # one process speaks
    # The main process checks and prepares the run dir (it may delete an old one); the others wait, then use it.
    run = prepare_run_dir(cfg, resume, overwrite, allow_config_change) if state.is_main_process else Path(cfg.output_dir)
    state.wait_for_everyone()
    s = setup(cfg, run, resume=resume, console=console, allow_config_change=allow_config_change)
    fit(s, console=console)
    return finish(s)


__all__ = ["Setup", "TrainingError", "main", "setup", "fit", "validate", "save", "finish", "pick_precision",
           "pick_forward_tokens", "on_cpu", "step_batches", "step_passes", "TRACE_ENV"]
