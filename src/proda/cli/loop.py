"""``proda loop``: the closed loop V1 → evaluate → diagnose → patch → V2 → evaluate, with a Markdown report."""

from __future__ import annotations

from pathlib import Path

import typer

from proda.cli.context import load_recipe, settings_from, store_for
from proda.cli.output import console, print_json


def loop(
    ctx: typer.Context,
    name: str | None = typer.Option(None, "--name", help="Loop name (default loop); the same name resumes."),
    bench: str | None = typer.Option(None, "--bench", "-b", help="Benchmark name (default proda)."),
    dataset: str | None = typer.Option(None, "--dataset", help="Builder dataset for V1 and replay (default v1)."),
    discipline: str | None = typer.Option(None, "--discipline", "-d", help="Only this discipline."),
    base_model: str | None = typer.Option(None, "--base-model", help="Model folder or smollm2-135m-instruct."),
    v1_steps: int | None = typer.Option(None, "--v1-steps", help="Training steps of V1 (default 60)."),
    v2_steps: int | None = typer.Option(None, "--v2-steps", help="Training steps of V2 from V1 (default 30)."),
    patch_budget: int | None = typer.Option(None, "--patch-budget", help="Patch set size per discipline "
                                            "(default 200, replay included)."),
    replay_ratio: float | None = typer.Option(None, "--replay-ratio", help="Share of replay (default 0.3)."),
    limit: int | None = typer.Option(None, "--limit", help="Evaluate at most this many items."),
    recipe: Path | None = typer.Option(None, "--recipe", help="YAML with LoopConfig fields; flags win."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Run the closed loop: build V1 data, train V1, evaluate V0 and V1, diagnose V1's failures,
    write patch sets, train V2 from V1 on patches plus replay, evaluate V2.

    The report ($PRODA_HOME/runs/loop/NAME/report.md) gives accuracy per model and discipline,
    wrong answers per distractor operator, the diagnoses and patches, and training figures. Each
    stage resumes by name, so rerunning the command finishes an interrupted loop.
    """
    from proda.pipelines.debug.loop import LoopConfig, run_loop

    flags = {"name": name, "benchmark": bench, "dataset": dataset, "discipline": discipline,
             "base_model": base_model, "v1_steps": v1_steps, "v2_steps": v2_steps, "patch_budget": patch_budget,
             "replay_ratio": replay_ratio, "eval_limit": limit}
    values = {**load_recipe(recipe, "LoopConfig"), **{k: v for k, v in flags.items() if v is not None}}
    config = LoopConfig.from_dict(values, source=str(recipe) if recipe else "flags")
    settings = settings_from(ctx)
    with store_for(ctx) as store:
        report = run_loop(store, config, settings.home,
                          log=None if as_json else lambda stage: console.rule(f"[bold]{stage}"))
    if as_json:
        print_json(report.__dict__)
        return
    console.print((Path(report.run_dir) / "report.md").read_text(), highlight=False, markup=False)
