"""``proda patch``: the Debugger. Diagnose an evaluation run's failures, then write targeted patch sets."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from proda.cli.context import load_recipe, settings_from, store_for
from proda.cli.output import console, err_console, print_json, print_rows
from proda.errors import ConfigError

if TYPE_CHECKING:  # the Debugger's modules load only when the command runs
    from proda.pipelines.debug import ShardResult
    from proda.pipelines.debug.diagnose import ProgressFn


@contextlib.contextmanager
def shard_progress(*, disable: bool) -> Iterator[tuple[ProgressFn, Callable[[ShardResult], None]]]:
    """A bar per discipline shard while it diagnoses; yields run_patch's ``progress`` and ``on_shard``."""
    tasks: dict[str, TaskID] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} "
                  "failed items diagnosed"), TimeElapsedColumn(), console=console, disable=disable) as bar:

        def progress(disc: str, done: int, total: int) -> None:
            if disc not in tasks:
                tasks[disc] = bar.add_task(f"diagnosing {disc}", total=total)
            bar.update(tasks[disc], completed=done, total=total)

        def shard_done(r: ShardResult) -> None:
            if r.discipline in tasks:
                bar.update(tasks[r.discipline], description=f"{r.discipline}: {r.status}")
            else:
                bar.console.print(f"{r.discipline}: {r.status}")

        yield progress, shard_done


def print_shard_notes(s: ShardResult) -> None:
    """What a shard could not do, in words: nothing to do, already done, or items not diagnosed (and why)."""
    if s.status in ("no_failures", "done", "undiagnosable"):
        console.print(s.message, highlight=False)
    for reason, messages in (s.diagnosis.examples if s.diagnosis else {}).items():
        for m in messages:
            console.print(f"[dim]not diagnosed ({reason}):[/dim] {m}", highlight=False)


def fail_undiagnosable(shards: Sequence[ShardResult]) -> None:
    """Exit 1 naming each shard none of whose failed items could be diagnosed (after the report is out)."""
    bad = [s for s in shards if s.status == "undiagnosable"]
    for s in bad:
        err_console.print(f"[bold red]error:[/bold red] {s.message}", highlight=False)
    if bad:
        raise typer.Exit(1)


def patch(
    ctx: typer.Context,
    run: str | None = typer.Option(None, "--run", "-r", help="Evaluation run to repair: its id (evr_...) or name."),
    discipline: str | None = typer.Option(None, "--discipline", "-d", help="Only this discipline."),
    all_: bool = typer.Option(False, "--all", help="Every discipline the run answered, one shard each."),
    budget: int | None = typer.Option(None, "--budget", "-n", help="Examples per discipline, replay included "
                                      "(default 1000)."),
    replay_ratio: float | None = typer.Option(None, "--replay-ratio", help="Share of replay from the V1 dataset "
                                              "(default 0.3; 0 for none)."),
    replay_dataset: str | None = typer.Option(None, "--replay-dataset", help="Builder dataset replay comes from "
                                              "(default v1)."),
    patch_set: str | None = typer.Option(None, "--patch-set", help="Patch set name (default v2)."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of probes, templates and the replay sample."),
    style: str | None = typer.Option(None, "--style", help="explain (default): passages, statements and "
                                     "step-by-step walks; answer: lead with the benchmark's question form "
                                     "answered with a name."),
    model: str | None = typer.Option(None, "--model", "-m", help="Model answering the probes (default: the run's)."),
    diagnose_only: bool = typer.Option(False, "--diagnose-only", help="Only diagnose and store the diagnoses "
                                       "(what `proda debug diagnose` would do); write no patch."),
    rediagnose: bool = typer.Option(False, "--rediagnose", help="Probe items again even if already diagnosed."),
    force: bool = typer.Option(False, "--force", help="Replace complete patch sets instead of skipping them."),
    executor: str | None = typer.Option(None, "--executor", help="local (default) or ray."),
    out: Path | None = typer.Option(None, "--out", help="Also export the patch set as JSONL chat records here "
                                    "(train V2 with `proda train --train-file`)."),
    recipe: Path | None = typer.Option(None, "--recipe", help="YAML with PatchConfig fields; flags win."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Diagnose each failed item of an evaluation run, then write a patch set per discipline.

    Diagnosis is a measurement: every hop of the failed item's chain is asked as a single-hop
    probe of the same model; a failed probe is a concept gap on that hop, all probes passed is a
    reasoning deficit. Diagnoses are (:Diagnosis) nodes linked to the item and the weak concepts.
    Patches: f_refine (grounded knowledge reinforcement) for concept gaps, f_cot (step-by-step
    scaffolds from train chains only) for reasoning deficits, mixed with replay from the V1
    dataset; each discipline's set is written whole and a rerun skips complete sets.
    """
    from proda.pipelines.debug import PatchConfig, export_jsonl, run_patch

    if all_ and discipline:
        raise ConfigError("give either --discipline D or --all, not both")
    flags = {"run": run, "discipline": discipline, "budget": budget, "replay_ratio": replay_ratio,
             "replay_dataset": replay_dataset, "patch_set": patch_set, "seed": seed, "style": style, "model": model,
             "executor": executor, "rediagnose": rediagnose or None, "force": force or None}
    values = {**load_recipe(recipe, "PatchConfig"), **{k: v for k, v in flags.items() if v is not None}}
    if all_:
        values["discipline"] = None
    config = PatchConfig.from_dict(values, source=str(recipe) if recipe else "flags")
    if config.discipline is None and not all_:
        raise ConfigError("give --discipline D for one discipline or --all for every discipline of the run")
    settings = settings_from(ctx)
    with store_for(ctx) as store:
        with shard_progress(disable=as_json) as (progress, shard_done):
            report = run_patch(store, config, settings.home, diagnose_only=diagnose_only, progress=progress,
                               on_shard=shard_done)
        exported = None
        if out is not None and not diagnose_only and any(s.status in ("written", "done") for s in report.shards):
            exported = export_jsonl(store, config.patch_set, out, config.discipline)
    rows = [_row(s) for s in report.shards]
    bad = [s for s in report.shards if s.status == "undiagnosable"]
    if as_json:
        print_json({"run_id": report.run.id, "run_name": report.run.name, "patch_set": report.patch_set,
                    "run_dir": report.run_dir, "failures": report.failures, "patches": report.patches,
                    "shards": [{**r, "message": s.message, "shortfall": s.shortfall, "skipped": s.skipped,
                                "diagnosis_skipped": s.diagnosis.examples if s.diagnosis else {},
                                "diagnoses": s.diagnoses} for r, s in zip(rows, report.shards, strict=True)],
                    "exported": exported, "out": str(out) if out else None})
    else:
        title = (f"run {report.run.name} ({report.run.id}): {report.failures} failed item(s)"
                 + ("" if diagnose_only else f", patch set {report.patch_set}: {report.patches} patches written"))
        print_rows(rows, title=title)
        for s in report.shards:
            print_shard_notes(s)
            if s.shortfall:
                console.print(f"[yellow]shortfall:[/yellow] {s.shortfall}", highlight=False)
            if diagnose_only and s.diagnoses:
                print_rows(s.diagnoses, title=f"diagnoses in {s.discipline}")
        if report.failures == 0 and not bad:
            console.print("no failed items: nothing to patch, no patch written")
        if exported is not None:
            console.print(f"exported {exported} patches to {out}")
    fail_undiagnosable(report.shards)


def _row(s: ShardResult) -> dict[str, Any]:
    d = s.diagnosis
    return {"discipline": s.discipline, "status": s.status, "failed": d.failed if d else None,
            "concept_gap": d.kinds.get("concept_gap", 0) if d else None,
            "reasoning_deficit": d.kinds.get("reasoning_deficit", 0) if d else None,
            "not_diagnosed": sum(d.skipped.values()) if d else None,
            "f_refine": s.written.get("f_refine", 0), "f_cot": s.written.get("f_cot", 0),
            "replay": s.written.get("replay", 0), "patches": s.patches}
