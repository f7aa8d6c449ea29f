"""``proda eval``: a model answers a stored benchmark; answers and accuracy go into the graph."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from proda.cli.context import load_recipe, settings_from, store_for
from proda.cli.output import console, pct, print_json, print_rows


def evaluate(
    ctx: typer.Context,
    model: str | None = typer.Option(None, "--model", "-m", help="Local model folder or smollm2-135m-instruct "
                                     "(loglikelihood); the API/served model name (generate)."),
    bench: str | None = typer.Option(None, "--bench", "-b", help="Benchmark name (default proda)."),
    split: str | None = typer.Option(None, "--split", help="test (default) or dev."),
    mode: str | None = typer.Option(None, "--mode", help="loglikelihood (default; lm-eval's acc and acc_norm) or "
                                    "generate (lettered options, answers parsed; for API or served models)."),
    backend: str | None = typer.Option(None, "--backend", help="generate mode: anthropic or openai (vLLM)."),
    base_url: str | None = typer.Option(None, "--base-url", help="generate mode: OpenAI-compatible server URL."),
    discipline: str | None = typer.Option(None, "--discipline", "-d", help="Only this discipline's items."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most this many items."),
    shard: str | None = typer.Option(None, "--shard", help="K/N: only the items in shard K of N (a stable hash "
                                     "of the item id), e.g. to split one evaluation over N workers."),
    run_name: str | None = typer.Option(None, "--run-name", help="Run name; the same name resumes the same run."),
    allow_missing_chains: bool = typer.Option(False, "--allow-missing-chains", help="Evaluate items whose chain "
                                              "was deleted since the benchmark was built (refused by default: "
                                              "their answers cannot be traced back)."),
    recipe: Path | None = typer.Option(None, "--recipe", help="YAML with EvalConfig fields; flags win."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Evaluate a model on a benchmark and store one answer per item on the graph.

    Results: (:EvalRun)-[:ANSWERED {chosen, correct, chosen_operator, scores}]->(:BenchmarkItem),
    summarised per discipline, chain length and the distractor operator that fooled the model.
    An interrupted run resumes: rerun the same command.
    """
    from proda.training.evaluate import EvalConfig
    from proda.training.evaluate import evaluate as run_eval

    flags = {"model": model, "benchmark": bench, "split": split, "mode": mode, "backend": backend,
             "base_url": base_url, "discipline": discipline, "limit": limit, "shard": shard, "run_name": run_name,
             "allow_missing_chains": allow_missing_chains or None}
    values = {**load_recipe(recipe, "EvalConfig"), **{k: v for k, v in flags.items() if v is not None}}
    config = EvalConfig.from_dict(values, source=str(recipe) if recipe else "flags")
    settings = settings_from(ctx)
    with store_for(ctx) as store, Progress(TextColumn(f"evaluating {config.name}"), BarColumn(),
                                           TextColumn("{task.completed}/{task.total} items"), TimeElapsedColumn(),
                                           console=console, disable=as_json) as bar:
        # shown from the first report on: a model or benchmark that cannot be used fails without an empty bar
        task = bar.add_task("eval", total=None, visible=False)
        report = run_eval(store, config, settings.home, llm=settings.llm,
                          progress=lambda done, total: bar.update(task, completed=done, total=total, visible=True))
    if as_json:
        print_json({"run_id": report.run_id, "name": report.name, "items": report.items,
                    "accuracy": report.accuracy, "accuracy_norm": report.accuracy_norm,
                    "unparseable": report.unparseable, "seconds": report.seconds, "groups": report.groups})
        return
    norm = f", acc_norm {pct(report.accuracy_norm)}" if report.accuracy_norm is not None else ""
    console.print(f"run {report.run_id} ({report.name}): {report.items} items, acc {pct(report.accuracy)}{norm}, "
                  f"{report.unparseable} unparseable, {report.answered_now} answered now in {report.seconds:.1f} s")
    print_rows([{**g, "accuracy": pct(g["accuracy"])} for g in report.groups],
               columns=["grouping", "key", "items", "correct", "accuracy", "unparseable"])
