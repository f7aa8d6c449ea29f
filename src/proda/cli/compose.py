"""``proda compose``: multi-step L3 chains composed from the relations of one document."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.progress import Progress, TextColumn, TimeElapsedColumn

from proda.cli.context import load_recipe, store_for
from proda.cli.output import console, pct, print_json, print_rows

if TYPE_CHECKING:
    from proda.pipelines.extract.compose import ComposeReport, DisciplineCompose

MAX_STEPS = 6  # mirrors compose.MAX_STEPS without importing the pipeline for --help


def compose(
    ctx: typer.Context,
    discipline: str | None = typer.Option(None, "--discipline", "-d", help="Only this discipline."),
    max_steps: int | None = typer.Option(None, "--max-steps", min=2, max=MAX_STEPS,
                                         help="Longest composed chain in relation steps (default 5)."),
    scope: str | None = typer.Option(None, "--scope", help="section: paths stay inside one section; document "
                                     "(default): same-section paths first, then across the document's sections."),
    max_per_start: int | None = typer.Option(None, "--max-per-start", min=1, help="Most chains starting at one "
                                             "concept within one document (default 2)."),
    max_per_document: int | None = typer.Option(None, "--max-per-document", min=1,
                                                help="Most chains per document (default 100)."),
    max_chains_per_relation: int | None = typer.Option(None, "--max-chains-per-relation", min=1,
                                                       help="Most composed chains one relation may be a step of "
                                                            "(default 2)."),
    hub_percentile: float | None = typer.Option(None, "--hub-percentile", min=0.0, max=100.0,
                                                help="Degree percentile above which a concept is a hub (default "
                                                     "99); hubs never sit inside a chain."),
    hub_min_degree: int | None = typer.Option(None, "--hub-min-degree", min=1,
                                              help="Degree floor of a hub (default 20)."),
    search_budget: int | None = typer.Option(None, "--search-budget", min=1, help="Most path extensions tried "
                                             "per start concept and section (default 2000)."),
    junction_words: int | None = typer.Option(None, "--junction-words", min=0, help="A concept named by fewer "
                                              "words joins only steps of one chunk (default 2: one-word names "
                                              "are ambiguous across passages; 0: any concept joins any steps)."),
    named_junctions: bool | None = typer.Option(
        None, "--named-junctions/--any-junctions", help="A concept joins two steps only where both steps' "
        "evidence sentences name it (default): a junction a pronoun stands for (\"these include ...\") often "
        "means another thing than the sentence before."),
    recipe: Path | None = typer.Option(None, "--recipe", help="YAML with ComposeConfig fields; flags win."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Plan and report; write and delete nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Compose multi-step L3 chains from L2 relations that one document states in different chunks.

    Extraction states chains inside one chunk, so most have one step. Composition walks each
    document's relations (same section first, then the whole document) and keeps simple paths of
    2 to --max-steps relations that read as one argument:

    - no concept twice (concepts merged by `proda resolve` count as one);
    - relation types must chain (an allow-list): a kind or an example (is_a, example_of) carries what its
      class has; parts and wholes, needs, and time run one way only; effects (causes, increases,
      decreases, prevents) chain, and what enables or serves a purpose leads on to effects;
    - defined_as only as the last step; nothing after measured_by; neither example_of nor has_part
      after example_of; contrasts_with and types outside the table are never composed;
    - a hub (a concept whose degree is an outlier in its discipline) may start or end a chain, never
      sit inside one;
    - a junction is named in both sentences it joins (not a pronoun's guess), and a one-word junction
      joins steps of one chunk only.

    Longer paths are preferred, then same-section ones, under caps per start concept, per document and per
    relation; a path an extracted chain already states (or contains) is skipped. Chains are written
    with origin "composed" and linked to every chunk they come from; their ids derive from their
    relation ids, so a rerun writes the same chains and deletes composed chains that no longer
    apply (unless a benchmark item or patch refers to them).

    Then: `proda check --json` splits chain counts and lengths by origin; `proda bench build` makes
    items from composed chains like any other and counts items per origin.
    """
    from proda.pipelines.extract.compose import ComposeConfig, compose_chains

    flags = {"discipline": discipline, "max_steps": max_steps, "scope": scope, "max_per_start": max_per_start,
             "max_per_document": max_per_document, "max_chains_per_relation": max_chains_per_relation,
             "hub_percentile": hub_percentile, "hub_min_degree": hub_min_degree, "search_budget": search_budget,
             "junction_words": junction_words, "named_junctions": named_junctions}
    values = {**load_recipe(recipe, "ComposeConfig"), **{k: v for k, v in flags.items() if v is not None}}
    config = ComposeConfig.from_dict(values, source=str(recipe) if recipe else "flags")
    with store_for(ctx) as store, Progress(TextColumn("composing {task.fields[info]}"), TimeElapsedColumn(),
                                           console=console, disable=as_json) as bar:
        task = bar.add_task("compose", total=None, info="")

        def progress(d: DisciplineCompose) -> None:
            bar.update(task, info=f"{d.discipline}: {d.phase}" + (f", {d.chains} chains" if d.chains else ""))

        report = compose_chains(store, config, progress=progress, dry_run=dry_run)
    if as_json:
        from proda.pipelines.extract.compose import report_dict

        print_json(report_dict(report))
    else:
        _print(report, config.max_steps)


def _print(report: ComposeReport, max_steps: int) -> None:
    rows = []
    for d in report.disciplines:
        rows.append({
            "discipline": d.discipline, "relations": d.relations, "documents": d.documents, "chains": d.chains,
            **{f"{n} steps": d.by_length.get(n, 0) for n in range(2, max_steps + 1)},
            "same section": d.same_section, "relations covered": pct(d.covered_share),
            "hubs (degree >)": f"{d.hubs} (>{d.hub_threshold:g})", "hub stops": d.hub_blocks,
            "removed": d.removed, "s": round(d.seconds, 2)})
    verb = "would compose" if report.dry_run else "composed"
    print_rows(rows, title=f"{verb} {report.chains} chains in {report.seconds:.1f} s")
    for d in report.disciplines:
        notes = []
        if d.skipped:
            notes.append("not selected: " + ", ".join(f"{k} {v}" for k, v in d.skipped.items()))
        if d.one_word_blocks or d.unnamed_blocks:
            notes.append(f"junctions refused: {d.one_word_blocks} one-word name(s) across chunks, "
                         f"{d.unnamed_blocks} concept(s) a joined sentence does not name")
        if d.merge_junctions:
            notes.append(f"{d.merge_junctions} junction(s) only a SAME_AS merge joins (not composed)")
        if d.unknown_type_relations:
            notes.append(f"{d.unknown_type_relations} relation(s) of types outside the compatibility table")
        if d.relations_without_document:
            notes.append(f"{d.relations_without_document} relation(s) whose chunk is gone")
        if d.kept_referenced:
            notes.append(f"{d.kept_referenced} composed chain(s) no longer apply but are kept: an item or patch "
                         "refers to them")
        if d.budget_exhausted:
            notes.append(f"{d.budget_exhausted} search(es) hit --search-budget")
        if d.unresolved:
            notes.append(f"{d.unresolved} chain(s) refused by the writer (a relation vanished during the run)")
        if notes:
            console.print(f"[dim]{d.discipline}: " + "; ".join(notes) + "[/dim]", highlight=False)
