"""``proda ingest`` and ``proda extract``: corpus in, L1/L2/L3 out."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from proda.cli.context import load_recipe, settings_from, store_for
from proda.cli.output import console, pct, print_json, print_rows
from proda.errors import InputError
from proda.pipelines.extract.config import BACKENDS, OFFLINE_BACKENDS, ExtractConfig, default_backend


def ingest(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(..., help="JSONL files (one document per line, the shape of the "
                                       "OpenStax corpus; a record may carry its page as `html`), Markdown/text "
                                       "files or folders, PDF files, HTML pages (.html/.htm: their visible text, "
                                       "boilerplate included; clean it with `proda refine`)."),
    discipline: str | None = typer.Option(None, "--discipline", "-d", help="Discipline for documents that do "
                                          "not name one (Markdown/text/PDF); JSONL records carry their own."),
    max_tokens: int = typer.Option(400, "--max-tokens", min=50, max=8000, help="Token budget per chunk; chunks "
                                   "split on section, then paragraph, then sentence boundaries."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Read documents, normalise and chunk them, and store Document and Chunk nodes.

    Re-ingesting an unchanged document writes nothing; a changed one replaces its chunks and marks
    what was extracted from the old ones as stale. Empty, binary, non-UTF-8, oversized documents,
    PDFs without a text layer and pages without visible text are reported by id with the reason and
    skipped; the run goes on. It exits 2 when nothing could be ingested: every input rejected, or no
    document under the paths given.
    """
    from proda.pipelines.ingest import ingest_paths

    for p in paths:
        if not p.exists():
            raise InputError(f"{p}: no such file or folder")
    with store_for(ctx) as store, Progress(TextColumn("ingesting"), TextColumn("{task.completed} documents"),
                                            TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                                            console=console, disable=as_json) as bar:
        task = bar.add_task("ingest", total=None, info="")

        def progress(seen: int, chunks: int) -> None:
            bar.update(task, completed=seen, info=f"{chunks} chunks written")

        report = ingest_paths(store, paths, discipline=discipline, max_tokens=max_tokens, progress=progress)
    if as_json:
        print_json({"seen": report.seen, "new": report.new, "changed": report.changed,
                    "unchanged": report.unchanged, "chunks_written": report.chunks_written,
                    "chunks_deleted": report.chunks_deleted, "stale": dict(report.stale),
                    "rejected": [{"item": r.item, "origin": r.origin, "code": r.code, "reason": r.reason}
                                 for r in report.rejected], "rejected_by_reason": dict(report.by_reason)})
    else:
        console.print(report.summary())
        if report.rejected:
            print_rows([{"item": r.item, "reason": r.reason} for r in report.rejected[:50]],
                       title=f"rejected ({len(report.rejected)}; by reason: "
                             + ", ".join(f"{k} {n}" for k, n in sorted(report.by_reason.items())) + ")")
            if len(report.rejected) > 50:
                console.print(f"[dim]... {len(report.rejected) - 50} more; use --json for the full list[/dim]")
    # a batch job must not read "0 new" as success when nothing could be read at all
    if report.seen == 0:
        raise InputError("no documents found in " + ", ".join(str(p) for p in paths))
    if len(report.rejected) == report.seen:
        raise InputError(f"nothing ingested: all {report.seen} input(s) were rejected (reasons above)")


extract_app = typer.Typer(rich_markup_mode="markdown")
"""``proda extract``: extraction itself (the group's callback, as before the group existed) and ``score``."""


@extract_app.callback(invoke_without_command=True)
def extract(
    ctx: typer.Context,
    backend: str | None = typer.Option(None, "--backend", "-b", help="dependency (offline, spaCy "
                                       "dependency parse; the nlp extra), heuristic (offline rule baseline), "
                                       "anthropic, or openai (OpenAI-compatible server, e.g. vLLM). Default: "
                                       "openai if PRODA_OPENAI_BASE_URL is set, else anthropic if "
                                       "ANTHROPIC_API_KEY is set, else dependency when spaCy and its model are "
                                       "installed, else heuristic."),
    model: str | None = typer.Option(None, "--model", help="Model name for LLM backends."),
    base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible server URL (vLLM: "
                                        "http://host:8000/v1)."),
    discipline: str | None = typer.Option(None, "--discipline", "-d", help="Only this discipline."),
    max_cost: float | None = typer.Option(None, "--max-cost", help="Stop before spending more USD than this."),
    max_tokens: int | None = typer.Option(None, "--max-tokens", help="Stop before using more tokens than this."),
    executor: str | None = typer.Option(None, "--executor", help="local (default) or ray."),
    recipe: Path | None = typer.Option(None, "--recipe", help="YAML with ExtractConfig fields; flags win."),
    estimate: bool = typer.Option(False, "--estimate", help="Print the expected calls, tokens and cost; "
                                  "extract nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Extract L3 chains, their L2 relations and L1 concepts from ingested chunks, top-down.

    Runs one shard per discipline over the chunks not yet extracted with this extractor and prompt
    version; a rerun resumes (finished chunks are marked in the graph). Invalid model answers are
    repaired once, retried once, then quarantined with their reason (`proda check` counts them).
    `proda extract score --gold FILE` measures an extractor against the hand-annotated gold set.
    """
    if ctx.invoked_subcommand is not None:
        given = [name for name, v in {"--backend": backend, "--model": model, "--base-url": base_url,
                                      "--discipline": discipline, "--max-cost": max_cost, "--max-tokens": max_tokens,
                                      "--executor": executor, "--recipe": recipe, "--estimate": estimate or None,
                                      "--json": as_json or None}.items() if v is not None]
        if given:  # silently ignoring them would score or run something other than what was asked
            what = "is an option" if len(given) == 1 else "are options"
            raise InputError(f"{', '.join(given)} {what} of `proda extract` itself; give the options of "
                             f"`proda extract {ctx.invoked_subcommand}` after the subcommand")
        return
    from proda.pipelines.extract.stage import ShardStats, extractor_key, make_extractor, run_extraction

    settings = settings_from(ctx)
    flags = {"backend": backend, "model": model, "base_url": base_url, "discipline": discipline,
             "max_cost": max_cost, "max_tokens": max_tokens, "executor": executor}
    values = {**load_recipe(recipe, 'ExtractConfig'), **{k: v for k, v in flags.items() if v is not None}}
    if "backend" not in values:
        values["backend"] = default_backend(settings.llm)
        if values["backend"] not in OFFLINE_BACKENDS and not as_json:
            console.print(f"backend: {values['backend']} (configured in the environment; --backend heuristic "
                          "for the offline baseline, --estimate to see the cost first)")
    config = ExtractConfig.from_dict(values, source=str(recipe) if recipe else "flags").with_llm(settings.llm)
    with store_for(ctx) as store:
        if estimate:
            _estimate(store, config, settings.home)
            return
        queue = store.query("extraction_queue", {"key": extractor_key(make_extractor(config, settings.home)),
                                                 "discipline": config.discipline})
        if config.discipline is not None and not queue:
            raise InputError(f"discipline {config.discipline!r} has no ingested chunks; run `proda ingest` first")
        total = sum(int(r["pending"]) for r in queue)
        if total == 0:
            console.print("nothing to extract: every chunk is already extracted with this extractor")
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} "
                      "chunks"), TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console,
                      disable=as_json or total == 0) as bar:
            task = bar.add_task(f"extracting ({config.backend})", total=total, info="")
            finished: dict[str, int] = {}

            def progress(disc: str, s: ShardStats) -> None:
                finished[disc] = s.chunks
                bar.update(task, completed=sum(finished.values()),
                           info=f"{disc}: {s.documents} docs, {sum(s.elements.values())} elements, "
                                f"{s.input_tokens + s.output_tokens} tok, ${s.cost_usd:.4f}, "
                                f"{s.quarantined} quarantined")

            report = run_extraction(store, config, settings.home, progress=progress,
                                    on_shard=lambda s: progress(s.discipline, s))
    if as_json:
        print_json({"key": report.key, "run_dir": report.run_dir, "shards": [s.__dict__ for s in report.shards]})
    else:
        # short headers: the table must stay readable in an 80-column terminal or CI log
        rows = [{"discipline": s.discipline, "docs": s.documents, "chunks": s.chunks,
                 "L1": s.elements.get("concept", 0), "L2": s.elements.get("relation", 0),
                 "L3": s.elements.get("chain", 0), "quar.": s.quarantined, "empty": s.empty_chunks,
                 "tokens": s.input_tokens + s.output_tokens, "$": f"{s.cost_usd:.2f}",
                 "s": f"{s.seconds:.1f}", "status": s.stopped or "done"} for s in report.shards]
        if rows:
            print_rows(rows, title=f"extraction {report.key}" + (" (offline rules)"
                                                                  if config.backend in OFFLINE_BACKENDS else ""))
            reasons: dict[str, int] = {}
            for sh in report.shards:
                for why, n in sh.empty_reasons.items():
                    reasons[why] = reasons.get(why, 0) + n
            if reasons:
                console.print("chunks that gave nothing: " + ", ".join(f"{why} {n}" for why, n in
                                                                   sorted(reasons.items(), key=lambda x: -x[1]))
                              + " (ids and reasons in skipped/*.jsonl)")
            console.print(f"[dim]run directory: {report.run_dir}[/dim]")
    if report.stopped:
        raise InputError("stopped by the budget; rerun the same command (with a higher budget) to resume")


def _estimate(store: Any, config: ExtractConfig, home: Path) -> None:
    from proda.pipelines.extract.llm_extractor import LLMExtractor
    from proda.pipelines.extract.model import ChunkInput
    from proda.pipelines.extract.stage import extractor_key, make_extractor

    extractor = make_extractor(config, home)
    rows = store.query("chunks_to_extract", {"key": extractor_key(extractor), "discipline": config.discipline})
    if not isinstance(extractor, LLMExtractor):
        console.print(f"{len(rows)} chunks to extract with the heuristic baseline: no model calls, no tokens, $0")
        return
    prompts = [extractor.prompts(ChunkInput(chunk_id=r["chunk_id"], discipline=r["discipline"], text=r["text"],
                                            title=r.get("title") or "", section=r.get("section") or ""))
               for r in rows]
    est = extractor.client.estimate(prompts, config.max_output_tokens)
    print_rows([est], title=f"estimate for {len(rows)} chunks ({est['backend']}:{est['model']}); nothing was sent")


@extract_app.command("score")
def score(
    ctx: typer.Context,
    gold: str = typer.Option("dev", "--gold", help="`dev` or `test` (the bundled hand-annotated gold set: choose "
                             "on dev, report on test), or a gold file in the `proda load` format "
                             "(data/gold/build_gold.py writes them)."),
    backend: str | None = typer.Option(None, "--backend", "-b", help=f"The extractor to score: {', '.join(BACKENDS)}. "
                                       "Default: as `proda extract`."),
    model: str | None = typer.Option(None, "--model", help="Model name for LLM backends."),
    base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible server URL (vLLM: "
                                        "http://host:8000/v1)."),
    discipline: str | None = typer.Option(None, "--discipline", "-d", help="Only this discipline's gold chunks."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the whole report (per discipline and per "
                                         "chunk: matched, missed, spurious) to this file; `-` prints it instead "
                                         "of the table."),
    errors: int = typer.Option(0, "--errors", min=0, help="Print this many missed and this many spurious triples "
                               "for error analysis."),
    by_type: bool = typer.Option(False, "--by-type", help="Also print precision and recall per relation type "
                                 "(precision by the predicted triple's type, recall by the gold one's): which "
                                 "rules or prompts to work on."),
) -> None:
    """Score an extractor against the hand-annotated gold set: precision, recall, F1 and chain recall.

    Each gold chunk goes to the extractor as `proda extract` would give it, and its answer through
    the same top-down conversion (quarantined steps are no predictions). Concepts match leniently
    (resolver keys, entity resolution's fuzzy threshold, or a contiguous part of the other name
    covering half of it) and strictly (equal resolver keys); converse and symmetric types count as
    one triple. Nothing is written to the graph.
    """
    from proda.pipelines.extract.score import ChunkScore, read_gold
    from proda.pipelines.extract.score import score as run_score
    from proda.pipelines.extract.stage import make_extractor

    settings = settings_from(ctx)
    from proda.gold import SPLITS, bundled

    gold_file = bundled(gold) if gold in SPLITS else Path(gold)
    chunks = read_gold(gold_file)  # a bad gold file fails before any backend is set up
    flags = {"backend": backend, "model": model, "base_url": base_url, "discipline": discipline}
    values = {k: v for k, v in flags.items() if v is not None}
    to_stdout = json_out is not None and str(json_out) == "-"
    if "backend" not in values:
        values["backend"] = default_backend(settings.llm)
        if not to_stdout:
            console.print(f"backend: {values['backend']} (as `proda extract` would choose it; --backend to change)")
    config = ExtractConfig.from_dict(values, source="flags").with_llm(settings.llm)
    extractor = make_extractor(config, settings.home)
    total = sum(1 for c in chunks if config.discipline is None or c.chunk.discipline == config.discipline)
    with Progress(TextColumn("scoring"), BarColumn(), TextColumn("{task.completed}/{task.total} chunks"),
                  TimeElapsedColumn(), console=console, disable=to_stdout) as bar:
        task = bar.add_task("score", total=total)

        def progress(done: int, _total: int, _last: ChunkScore) -> None:
            bar.update(task, completed=done)

        report = run_score(chunks, extractor, gold_path=str(gold_file), discipline=config.discipline, progress=progress)
    if to_stdout:
        print_json(report.model_dump(mode="json"))
        return
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    # short headers: the table must stay readable in an 80-column terminal or CI log
    rows = [{"discipline": name, "chunks": m.chunks, "gold": m.gold_triples, "pred": m.predicted_triples,
             "match": m.matched, "P": pct(m.precision), "R": pct(m.recall), "F1": pct(m.f1),
             "P str": pct(m.precision_strict), "R str": pct(m.recall_strict), "F1 str": pct(m.f1_strict),
             "chains": pct(m.chain_recall), "≥2": pct(m.multi_chain_recall) if m.gold_multi_chains else "-",
             "empty": m.chunks_without_prediction, "err": sum(m.errors.values())}
            for name, m in [*report.disciplines.items(), ("overall", report.overall)]]
    print_rows(rows, title=f"{report.extractor} on {gold} (lenient; 'str' = strict concept match)")
    m = report.overall
    if m.errors:
        console.print("extractor errors (chunks, by type): "
                      + ", ".join(f"{k} {n}" for k, n in m.errors.items()))
    if m.predicted_types:
        console.print("predicted types: " + ", ".join(f"{k} {n}" for k, n in m.predicted_types.items()))
    console.print("chain lengths (steps: chains): gold " + _lengths(m.gold_chain_lengths)
                  + "; predicted " + _lengths(m.predicted_chain_lengths))
    if by_type:
        print_rows([{"type": t, "gold": x.gold, "pred": x.predicted, "found": x.matched_gold,
                     "right": x.matched_predicted, "P": pct(x.precision) if x.predicted else "-",
                     "R": pct(x.recall) if x.gold else "-"} for t, x in m.by_type.items()],
                   title="overall, by relation type (found: gold triples matched; right: predicted triples matched)")
    if errors:
        missed = [(c.key, t) for c in report.chunks for t in c.missed][:errors]
        spurious = [(c.key, t) for c in report.chunks for t in c.spurious][:errors]
        # escaped: a triple prints as "a -[type]-> b", which rich would read as markup
        print_rows([{"chunk": k, "gold triple": escape(str(t)), "evidence": escape(t.evidence[:100])}
                    for k, t in missed], title=f"missed (first {len(missed)})")
        print_rows([{"chunk": k, "predicted triple": escape(str(t)), "evidence": escape(t.evidence[:100])}
                    for k, t in spurious], title=f"spurious (first {len(spurious)})")
    if json_out is not None:
        console.print(f"[dim]report: {json_out}[/dim]")


def _lengths(counts: dict[int, int]) -> str:
    return " ".join(f"{k}:{v}" for k, v in counts.items()) or "-"


def config_help() -> str:
    """ExtractConfig fields with their help, for docs."""
    return "\n".join(f"{f.name}: {f.metadata.get('help', '')}" for f in fields(ExtractConfig))
