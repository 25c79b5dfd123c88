"""`tunesmith train CONFIG.yaml [--set key=value ...] [--resume [--allow-config-change] | --overwrite | --dry-run]`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from tunesmith.output import console as make_console


def train(
    config: Path = typer.Argument(None, help="YAML training config (see --help-config for every key)."),
    set_: list[str] = typer.Option([], "--set", help="Override a config key: --set lr=1e-4 (repeatable)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in output_dir from its latest checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Delete an existing output_dir and start over."),
    allow_config_change: bool = typer.Option(
        False, "--allow-config-change",
        help="With --resume: continue even though the config or data changed in a way that makes the run inexact "
        "(recorded in run.log)."),
    help_config: bool = typer.Option(False, "--help-config", help="List every config key with its default and exit."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the plan (examples, tokens, steps, epochs, effective batch) and a time estimate "
        "from a few measured steps on this machine; train nothing, write nothing to output_dir."),
) -> None:
    """Fine-tune a base model on your examples (full, lora, qlora, dora, ia3)."""
    from tunesmith.train.config import ConfigError, describe, load_config

    console = make_console()
    if help_config:
        table = Table("key", "default", "description", title="training config")
        for row in describe():
            table.add_row(*row)
        from tunesmith.output import print_table

        print_table(console, table)  # tab-separated rows when piped: rich would cut the descriptions at 80 columns
        raise typer.Exit()
    if config is not None and not config.exists():
        console.print(f"[red]config not found: {config}[/]")
        raise typer.Exit(2)
    try:
        cfg = load_config(config, set_)
    except ConfigError as e:
        console.print(f"[red]{e}[/]")
        raise typer.Exit(2)

    from tunesmith.train.loop import TrainingError, main

    try:
        if dry_run:
            from tunesmith.train.dryrun import dry_run as measure, print_plan

            print_plan(cfg, *measure(cfg, console), console)
            return
        run = main(cfg, resume=resume, overwrite=overwrite, console=console, allow_config_change=allow_config_change)
    except TrainingError as e:
        console.print(f"[red]{e}[/]")
        raise typer.Exit(1)
    except KeyboardInterrupt:
        raise typer.Exit(130)
    except OSError as e:  # e.g. disk full while checkpointing: the previous checkpoints are intact
        console.print(f"[red]training stopped: {e}[/]")
        raise typer.Exit(1)
    console.print(f"[green]done[/]: {run}/model  (summary: {run}/summary.md, curve: {run}/loss.png)")
