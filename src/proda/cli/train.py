"""``proda train``: a TRL SFT job (full or LoRA) on a Builder dataset or a JSONL file."""

from __future__ import annotations

from pathlib import Path

import typer

from proda.cli.context import load_recipe, settings_from, store_for
from proda.cli.output import console, print_json


def train(
    ctx: typer.Context,
    recipe: Path | None = typer.Option(None, "--recipe", help="YAML with TrainConfig fields (see below); flags win."),
    run_name: str | None = typer.Option(None, "--run-name", help="Run name (default v1); the same name resumes."),
    dataset: str | None = typer.Option(None, "--dataset", help="Builder dataset in the graph (default v1)."),
    train_file: Path | None = typer.Option(None, "--train-file", help="JSONL chat records instead of a dataset."),
    base_model: str | None = typer.Option(None, "--base-model", help="Model folder or smollm2-135m-instruct."),
    method: str | None = typer.Option(None, "--method", help="full (default) or lora."),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Optimizer steps."),
    profile_steps: int | None = typer.Option(None, "--profile-steps", min=0, help="Profile this many steps after "
                                             "the first and write the slowest operators to the run's profile.txt."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Fine-tune a causal LM with TRL's SFTTrainer on CPU or GPU; checkpoints, resume, JSON summary.

    The run directory $PRODA_HOME/runs/train/RUN_NAME holds checkpoints, the final model (model/,
    LoRA adapters merged) and summary.json (steps, loss curve, tokens/s, wall time, peak memory).
    Every TrainConfig field can be set in a recipe; `python -c "from proda.training.sft import
    TrainConfig; help(TrainConfig)"` lists them with their help.
    """
    from proda.training.sft import TrainConfig, run_training

    flags = {"run_name": run_name, "dataset": dataset, "train_file": str(train_file) if train_file else None,
             "base_model": base_model, "method": method, "max_steps": max_steps, "profile_steps": profile_steps}
    values = {**load_recipe(recipe, "TrainConfig"), **{k: v for k, v in flags.items() if v is not None}}
    if train_file is not None and dataset is None:
        values["dataset"] = None
    config = TrainConfig.from_dict(values, source=str(recipe) if recipe else "flags")
    settings = settings_from(ctx)
    if not as_json:
        console.print(f"training {config.base_model} ({config.method}) on "
                      f"{config.train_file or 'dataset ' + str(config.dataset)} for {config.max_steps} steps")
    if config.train_file:
        summary = run_training(config, settings.home)
    else:
        with store_for(ctx) as store:
            summary = run_training(config, settings.home, store=store)
    if as_json:
        print_json(summary.__dict__)
        return
    first, last = (summary.losses[0][1], summary.losses[-1][1]) if summary.losses else (None, None)
    console.print(f"{summary.steps} steps on {summary.records} records in {summary.seconds:.0f} s "
                  f"({summary.tokens_per_s:.0f} tokens/s, {summary.device}); loss {first} -> {last}; "
                  f"peak RSS {summary.peak_rss_mb:.0f} MiB"
                  + (f", resumed from {summary.resumed_from}" if summary.resumed_from else ""))
    console.print(f"model: {summary.model_dir}")
    if summary.profile:
        console.print(f"profile of {config.profile_steps} steps: {summary.profile}")
