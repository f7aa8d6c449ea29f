"""``proda bench``: the Tester. Benchmarks from held-out L3 chains, checked against the graph, exported."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.progress import Progress, TextColumn, TimeElapsedColumn

from proda.cli.context import load_recipe, settings_from, store_for
from proda.cli.output import console, err_console, pct, print_json, print_rows
from proda.errors import ConfigError, NotFound

if TYPE_CHECKING:
    from proda.pipelines.tester.build import BuildReport, ShardStats
    from proda.pipelines.tester.check import CheckReport

app = typer.Typer(help="Benchmarks from held-out L3 chains, with distractors built from the graph "
                       "(INVREL, TRUNC, NEARMISS), proven wrong in it, and orthogonal to training data.",
                  rich_markup_mode="markdown", no_args_is_help=True)

NAME_HELP = "Benchmark name (items of one name form one benchmark)."
PARAPHRASE_BACKEND_HELP = ("Reword question stems with an LLM: anthropic or openai (any OpenAI-compatible server). "
                           "Default: templates only.")


@app.command()
def build(
    ctx: typer.Context,
    name: str | None = typer.Option(None, "--name", "--bench", "-b", help=NAME_HELP + " Default: proda."),
    discipline: str | None = typer.Option(None, "--discipline", "-d", help="Only this discipline."),
    per_discipline: int | None = typer.Option(None, "--per-discipline", "-n", min=1, help="Items per discipline "
                                              "(default: one per usable test/dev chain)."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the chain order and option shuffle (default 0)."),
    test_ratio: float | None = typer.Option(None, "--test-ratio", help="Share of chains split to test (0.1)."),
    dev_ratio: float | None = typer.Option(None, "--dev-ratio", help="Share of chains split to dev (0.1)."),
    splits: str | None = typer.Option(None, "--splits", help="Held-out splits to build from: test,dev (default) "
                                      "or test."),
    distractors: int | None = typer.Option(None, "--distractors", min=1, help="Distractors per item (3)."),
    peers: bool | None = typer.Option(None, "--peers/--no-peers", help="NEARMISS peers, concepts in the answer's "
                                      "role elsewhere in its document: many more items from a sparse graph "
                                      "(default: on; --no-peers for structural near misses only)."),
    executor: str | None = typer.Option(None, "--executor", help="local (default) or ray."),
    paraphrase_backend: str | None = typer.Option(None, "--paraphrase-backend", help=PARAPHRASE_BACKEND_HELP),
    paraphrase_model: str | None = typer.Option(None, "--paraphrase-model", help="Model of the paraphrase backend."),
    paraphrase_base_url: str | None = typer.Option(None, "--paraphrase-base-url", help="OpenAI-compatible server "
                                                   "URL for paraphrase (vLLM: http://localhost:8000/v1)."),
    paraphrase_max_cost: float | None = typer.Option(None, "--paraphrase-max-cost", min=0, help="Stop paraphrasing "
                                                     "before spending more USD; the rest keep their templates."),
    recipe: Path | None = typer.Option(None, "--recipe", help="YAML with BenchConfig fields; flags win."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Split chains (test/dev/train, deterministic), then build multiple-choice items from test/dev chains.

    The question walks a chain from its start concept; the answer is its end; three distractors come
    from the graph (INVREL, TRUNC, NEARMISS) and each is proven wrong by query. Chains that cannot
    yield a valid item are skipped and counted by reason. Rerunning updates the same items. With
    --paraphrase-backend an LLM rewords each question stem (cached under PRODA_HOME/cache); a
    rewording that drops the start concept or names an option keeps the template, counted by reason.
    """
    from dataclasses import asdict

    from proda.pipelines.tester.build import build_benchmark
    from proda.pipelines.tester.config import BenchConfig

    flags = {"name": name, "discipline": discipline, "per_discipline": per_discipline, "seed": seed,
             "test_ratio": test_ratio, "dev_ratio": dev_ratio, "splits": splits, "distractors": distractors,
             "peers": peers, "executor": executor, "paraphrase_backend": paraphrase_backend,
             "paraphrase_model": paraphrase_model,
             "paraphrase_base_url": paraphrase_base_url, "paraphrase_max_cost": paraphrase_max_cost}
    values = {**load_recipe(recipe, "BenchConfig"), **{k: v for k, v in flags.items() if v is not None}}
    config = BenchConfig.from_dict(values, source=str(recipe) if recipe else "flags")
    settings = settings_from(ctx)
    home = settings.home
    with store_for(ctx) as store, Progress(TextColumn("building {task.fields[info]}"), TimeElapsedColumn(),
                                           console=console, disable=as_json) as bar:
        task = bar.add_task("build", total=None, info="")

        def progress(s: ShardStats) -> None:
            bar.update(task, info=f"{s.discipline}: {s.items} items from {s.considered}/{s.held_out_chains} chains")

        report = build_benchmark(store, config, progress=progress, home=home, llm=settings.llm)
    if as_json:
        print_json({"benchmark": report.benchmark, "items": report.items, "seconds": report.seconds,
                    "split": {"assigned": dict(report.split.assigned), "pinned": report.split.pinned,
                              "rule": report.split.rule},
                    "shards": [asdict(s) for s in report.shards], "paraphrase": report.paraphrase_llm})
    else:
        _print_build(report)


def _print_build(report: BuildReport) -> None:
    s = report.split
    if s.assigned:
        console.print(f"split {sum(s.assigned.values())} new chain(s): "
                      + ", ".join(f"{k} {v}" for k, v in sorted(s.assigned.items()))
                      + (f" ({s.pinned} pinned by existing items)" if s.pinned else "") + f"  [dim]{s.rule}[/dim]")
    rows = []
    for sh in report.shards:
        ops = sum(sh.operators.values()) or 1
        rows.append({"discipline": sh.discipline, "held-out chains": sh.held_out_chains,
                     "considered": sh.considered, "items": sh.items, "skipped": sum(sh.skipped.values()),
                     **{op: pct(sh.operators.get(op, 0) / ops) for op in ("INVREL", "TRUNC", "NEARMISS")},
                     "seconds": round(sh.seconds, 2)})
    print_rows(rows, title=f"benchmark {report.benchmark!r}: {report.items} items in {report.seconds:.1f} s")
    skipped = report.total("skipped")
    if skipped:
        console.print("skipped chains by reason: " + ", ".join(f"{k} {v}" for k, v in skipped.most_common()))
        for sh in report.shards:
            for reason, messages in sorted(sh.examples.items()):
                for m in messages[:2]:
                    console.print(f"  [yellow]{reason}[/yellow] {m}", highlight=False)
    rejected = report.total("rejected_candidates")
    if rejected:
        console.print("[dim]rejected distractor candidates: "
                      + ", ".join(f"{k} {v}" for k, v in rejected.most_common()) + "[/dim]")
    paraphrase = report.total("paraphrase")
    if paraphrase:
        console.print("question wording: " + ", ".join(f"{k} {v}" for k, v in paraphrase.most_common()))
    llm = report.paraphrase_llm
    if llm is not None:
        console.print(f"[dim]paraphrase by {llm['paraphrased_by']}: {llm['calls']} request(s), "
                      f"{llm['cached_hits']} cached, ${llm['cost_usd']:.4f}[/dim]")
        if llm["stopped"]:
            err_console.print(f"[yellow]warning:[/yellow] paraphrase stopped ({llm['stopped']}); the remaining "
                              "questions kept their templates", highlight=False)
    for sh in report.shards:
        if sh.shortfall:
            err_console.print(f"[yellow]warning:[/yellow] {sh.shortfall}", highlight=False)


@app.command()
def split(
    ctx: typer.Context,
    discipline: str | None = typer.Option(None, "--discipline", "-d", help="Only this discipline."),
    test_ratio: float = typer.Option(0.1, "--test-ratio", help="Share of chains split to test."),
    dev_ratio: float = typer.Option(0.1, "--dev-ratio", help="Share of chains split to dev."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Give every chain without a split its deterministic split, and show the splits per stratum.

    A recorded split is never changed, so later stages can rely on train chains staying train.
    """
    from proda.pipelines.tester.config import BenchConfig
    from proda.pipelines.tester.split import assign_splits, split_counts

    config = BenchConfig(discipline=discipline, test_ratio=test_ratio, dev_ratio=dev_ratio)
    with store_for(ctx) as store:
        report = assign_splits(store, config)
        rows = split_counts(store, discipline)
    if as_json:
        print_json({"assigned": dict(report.assigned), "pinned": report.pinned, "rule": report.rule, "strata": rows})
        return
    shown = [{**r, "test_share": pct(_share(r["test_share"])), "dev_share": pct(_share(r["dev_share"]))} for r in rows]
    print_rows(shown, title=f"chain splits per stratum ({sum(report.assigned.values())} newly split)")


def _share(x: object) -> float | None:
    return float(x) if isinstance(x, int | float) else None


def _print_check(report: CheckReport) -> None:
    if report.ok:
        console.print(f"[green]ok[/green]: {report.items} items valid and orthogonal ({report.seconds:.2f} s)")
        return
    print_rows([{"check": v.check, "item": v.item_id, "detail": v.detail} for v in report.violations[:200]],
               title=f"{len(report.violations)} violation(s) in {report.items} items")
    if len(report.violations) > 200:
        console.print(f"[dim]... {len(report.violations) - 200} more; use --json for all[/dim]")


@app.command()
def check(
    ctx: typer.Context,
    name: str | None = typer.Option(None, "--name", "--bench", "-b", help=NAME_HELP + " Default: every benchmark."),
    discipline: str | None = typer.Option(None, "--discipline", "-d", help="Only this discipline's items."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Re-verify stored items against the graph as it is now; exit 1 if anything is violated.

    Validity: each chain still leads to its answer and to none of the distractors, no two options are
    the same concept or alias, nothing an item links to was deleted. Orthogonality: no training
    example or patch equals an item or was built from a test/dev chain (bench_orthogonality).
    """
    from proda.pipelines.tester.check import check_benchmark

    with store_for(ctx) as store:
        report = check_benchmark(store, name, discipline)
    if as_json:
        print_json({"items": report.items, "ok": report.ok, "seconds": report.seconds,
                    "violations": [v.__dict__ for v in report.violations]})
    else:
        _print_check(report)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def export(
    ctx: typer.Context,
    fmt: str = typer.Option("jsonl", "--format", "-f", help="jsonl, hf (Hugging Face dataset, parquet) or "
                            "lm-eval (lm-evaluation-harness task folder)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output folder (default "
                                    "PRODA_HOME/exports/bench/NAME/FORMAT)."),
    name: str = typer.Option("proda", "--name", "--bench", "-b", help=NAME_HELP),
    discipline: str | None = typer.Option(None, "--discipline", "-d", help="Only this discipline's items."),
    as_json: bool = typer.Option(False, "--json", help="Print the written files as JSON."),
) -> None:
    """Write the stored benchmark as JSONL, a Hugging Face dataset or an lm-eval task; ids are kept."""
    from proda.pipelines.tester.export import FORMATS, load_items, task_name
    from proda.pipelines.tester.export import export as write

    if fmt not in FORMATS:
        raise ConfigError(f"unknown --format {fmt!r}: use one of {', '.join(FORMATS)}")
    folder = out or settings_from(ctx).home / "exports" / "bench" / name / fmt
    with store_for(ctx) as store:
        items = load_items(store, name, discipline)
    files = write(items, fmt, folder)
    if as_json:
        print_json({"format": fmt, "items": len(items), "files": [str(f) for f in files]})
        return
    console.print(f"wrote {len(items)} items as {fmt} to {folder}")
    if fmt == "lm-eval":
        console.print(f"  run: lm_eval --tasks {task_name(name)} --include_path {folder} --model ...")


@app.command()
def show(
    ctx: typer.Context,
    item_id: str = typer.Argument(..., help="A benchmark item id (bmi_...)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """One item with its options (operator and source elements), its chain step by step, and provenance."""
    import json

    with store_for(ctx) as store:
        rows = store.query("bench_items", {"id": item_id})
        if not rows:
            raise NotFound(f"no benchmark item {item_id!r}")
        item = json.loads(rows[0]["record"])
        chain = store.query("chain_detail", {"id": item["chain_id"]})
    if as_json:
        print_json({"item": item, "chain": chain})
        return
    console.print(f"[bold]{item['id']}[/bold]  benchmark {item['benchmark']}, {item['discipline']}, "
                  f"split {item['split']}, chain {item['chain_id']}")
    console.print(item["question"], highlight=False)
    print_rows([{"#": o["index"], "option": o["text"], "correct": "yes" if o["correct"] else "",
                 "operator": o["operator"], "kind": o["kind"], "detail": o["detail"], "via": o["via"]}
                for o in item["options"]], title="options")
    print_rows(chain, title="chain (provenance)", columns=["pos", "concept_name", "relation_type", "evidence",
                                                           "chunk_id", "document_title"])
    if not chain:
        console.print("[red]the chain this item tests no longer exists: run `proda bench check`[/red]")
