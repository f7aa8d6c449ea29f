"""``proda build``: the Builder. Training examples from L1/L2, grounded in their chunks, in the graph."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer
from rich.progress import Progress, TextColumn, TimeElapsedColumn

from proda.cli.context import load_recipe, settings_from, store_for
from proda.cli.output import console, print_json, print_rows
from proda.errors import ConfigError


def build(
    ctx: typer.Context,
    dataset: str | None = typer.Option(None, "--dataset", help="Dataset name (default v1)."),
    discipline: str | None = typer.Option(None, "--discipline", "-d", help="Only this discipline."),
    budget: int | None = typer.Option(None, "--budget", min=1, help="Most examples per discipline (relations "
                                      "are sampled in a seeded order)."),
    seed: int | None = typer.Option(None, "--seed", help="Seed for the relation order and the wording."),
    families: str | None = typer.Option(None, "--families", help="Comma-separated example families (default: "
                                        "question): question, definition, statement, reverse, recall, grounded."),
    paraphrase_backend: str | None = typer.Option(None, "--paraphrase-backend", help="Reword the questions with an "
                                                  "LLM: anthropic or openai (any OpenAI-compatible server). "
                                                  "Default: templates only."),
    paraphrase_model: str | None = typer.Option(None, "--paraphrase-model", help="Model of the paraphrase backend."),
    paraphrase_base_url: str | None = typer.Option(None, "--paraphrase-base-url", help="OpenAI-compatible server "
                                                   "URL for paraphrase (vLLM: http://localhost:8000/v1)."),
    paraphrase_max_cost: float | None = typer.Option(None, "--paraphrase-max-cost", min=0, help="Stop paraphrasing "
                                                     "before spending more USD; the rest keep their templates."),
    paraphrase_answers: bool | None = typer.Option(None, "--paraphrase-answers", help="Also reword the answers' "
                                                   "statements of the fact (concept names and evidence verbatim)."),
    recipe: Path | None = typer.Option(None, "--recipe", help="YAML with BuildConfig fields; flags win."),
    out: Path | None = typer.Option(None, "--out", help="Also export the dataset here (a .jsonl file, or a "
                                    "folder for --format hf)."),
    fmt: str = typer.Option("jsonl", "--format", help="Export format: jsonl (chat records) or hf (datasets "
                            "save_to_disk), both in the format TRL's SFTTrainer takes."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Synthesise instruction-tuning examples from L1 concepts and L2 relations.

    Families: question (the default; the benchmark's own wording of a one-step chain, answered with
    the concept's name, the recipe chosen on dev by benchmarks/v1_recipe.py), definitions, relation
    statements asked from both ends, multiple-choice recall ("which of these does X cause?") and
    grounded examples that quote the evidence from the chunk.
    Examples are (:TrainingExample) nodes linked to the concepts they teach and their chunk; never
    built from L3 chains, never instance-identical to a benchmark item, deduplicated. Rebuilding is
    idempotent. With --paraphrase-backend an LLM rewords the questions (cached under PRODA_HOME/cache);
    a rewording that loses a concept or names the answer keeps the template, counted by reason.
    """
    from proda.pipelines.build import BuildConfig, build_examples
    from proda.pipelines.build.export import export_hf, export_jsonl

    if fmt not in ("jsonl", "hf"):
        raise ConfigError(f"--format {fmt!r}: use jsonl or hf")
    flags = {"dataset": dataset, "discipline": discipline, "budget": budget, "seed": seed,
             "families": tuple(f.strip() for f in families.split(",") if f.strip()) if families is not None else None,
             "paraphrase_backend": paraphrase_backend, "paraphrase_model": paraphrase_model,
             "paraphrase_base_url": paraphrase_base_url, "paraphrase_max_cost": paraphrase_max_cost,
             "paraphrase_answers": paraphrase_answers}
    values = {**load_recipe(recipe, "BuildConfig"), **{k: v for k, v in flags.items() if v is not None}}
    config = BuildConfig.from_dict(values, source=str(recipe) if recipe else "flags")
    settings = settings_from(ctx)
    home = settings.home
    with store_for(ctx) as store:
        with Progress(TextColumn("building {task.fields[disc]}"), TextColumn("{task.completed} examples"),
                      TimeElapsedColumn(), console=console, disable=as_json) as bar:
            task = bar.add_task("build", total=None, disc="")
            report = build_examples(store, config, home=home, llm=settings.llm,
                                    progress=lambda d, n: bar.update(task, completed=n, disc=d))
        exported = None
        if out is not None:
            exporter = export_jsonl if fmt == "jsonl" else export_hf
            exported = exporter(store, config.dataset, out, config.discipline)
    rows = [{"discipline": d.discipline, "relations": d.relations, "examples": d.examples,
             **{f: d.families.get(f, 0) for f in config.families},
             "skipped": ", ".join(f"{k} {n}" for k, n in sorted(d.skipped.items()) if n) or "-",
             **({"paraphrase": dict(d.paraphrase)} if as_json and config.paraphrase_backend else {})}
            for d in report.disciplines]
    if as_json:
        print_json({"dataset": config.dataset, "disciplines": rows, "exported": exported,
                    "out": str(out) if out else None, "paraphrase": report.paraphrase_llm})
        return
    print_rows(rows, title=f"dataset {config.dataset}: {report.examples} examples")
    llm = report.paraphrase_llm
    if llm is not None:
        outcomes: Counter[str] = sum((d.paraphrase for d in report.disciplines), Counter())
        console.print("wording: " + (", ".join(f"{k} {n}" for k, n in outcomes.most_common()) or "-"))
        console.print(f"[dim]paraphrase by {llm['paraphrased_by']}: {llm['calls']} request(s), "
                      f"{llm['cached_hits']} cached, ${llm['cost_usd']:.4f}[/dim]")
        if llm["stopped"]:
            console.print(f"[yellow]warning:[/yellow] paraphrase stopped ({llm['stopped']}); the remaining "
                          "examples kept their templates", highlight=False)
    if exported is not None:
        console.print(f"exported {exported} examples to {out} ({fmt})")
