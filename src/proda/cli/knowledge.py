"""``proda load``, ``proda check``, ``proda stats``: knowledge in, structure out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from proda.cli.context import settings_from, store_for
from proda.cli.output import bytes_progress, console, pct, print_json, print_rows
from proda.errors import InputError

if TYPE_CHECKING:
    from proda.pipelines.check import CheckReport, DisciplineReport
    from proda.pipelines.load import LoadReport


def load(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., help="JSONL files of knowledge records (kind = document, chunk, "
                                                 "concept, relation, chain), one per line."),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1, help="Rows per UNWIND batch "
                                          "(default PRODA_BATCH_SIZE or 5000)."),
    restart: bool = typer.Option(False, "--restart", help="Ignore the checkpoint and read every line again."),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Report bad lines and go on (exit 2 at the "
                                      "end) instead of stopping at the first."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    bulk: bool | None = typer.Option(None, "--bulk/--no-bulk", help="Load in one bulk pass (FalkorDB GRAPH.BULK): "
                                     "an empty graph is created so, and new elements (a discipline of its own) "
                                     "are added so to a graph that holds others. Default: bulk when the files "
                                     "refer to nothing outside themselves and (in a filled graph) hold nothing "
                                     "the graph has, else upsert; --bulk fails on a backend without it (Neo4j: "
                                     "`proda graph export`)."),
) -> None:
    """Load already-extracted L1/L2/L3 records into the graph.

    Idempotent: records are MERGEd by deterministic id, so loading twice changes nothing, and a
    killed load is finished by running it again (a checkpoint skips committed lines). A first load
    into an empty graph creates it in one bulk pass, with the same nodes, edges and properties; the
    files of one command go in that pass together, so they may refer to each other's elements. Files
    whose elements are all new to a filled graph (a discipline of its own) are added in one bulk pass
    too; anything else goes row by row.
    """
    from proda.pipelines.load import load_files

    settings = settings_from(ctx)
    size = sum(path.stat().st_size for path in files if path.is_file())
    name = files[0].name if len(files) == 1 else f"{len(files)} files"
    with store_for(ctx) as store, bytes_progress(disable=as_json) as bar:
        task = bar.add_task(f"loading {name}", total=size or None)

        def advance(_lines: int, done: int) -> None:
            bar.update(task, completed=done)

        def phase(what: str) -> None:
            bar.update(task, description=f"{name}: {what}")

        reports: list[LoadReport] = load_files(
            store, files, home=settings.home, batch_size=batch_size or settings.batch_size, restart=restart,
            skip_invalid=skip_invalid, progress=advance, bulk=bulk, phase=phase)
    if as_json:
        print_json([r.__dict__ for r in reports])
    else:
        for r in reports:
            written = ", ".join(f"{n:,} {k}s" for k, n in sorted(r.written.items())) or "nothing new"
            resumed = f" (resumed after line {r.skipped_resumed})" if r.skipped_resumed else ""
            how = (" in one bulk pass" if r.method == "bulk"
                   else f" row by row ({r.bulk_skipped})" if r.bulk_skipped else "")
            console.print(f"[green]loaded[/green] {r.path}: {r.lines:,} lines{resumed}; wrote {written}{how}")
            if r.unlinked_mentions:
                console.print(f"  [yellow]{r.unlinked_mentions} concept->chunk mentions name unknown chunks[/yellow]")
            for line, why in r.rejected[:20]:
                console.print(f"  [red]{r.path}:{line}[/red] {why}")
    rejected = sum(len(r.rejected) for r in reports)
    if rejected:
        raise InputError(f"{rejected} invalid line(s) were skipped; the rest was loaded")


def _multi_step(d: DisciplineReport) -> float | None:
    """Share of the chains with two or more steps, over both origins."""
    counts = [(int(k), n) for lengths in d.chain_lengths.values() for k, n in lengths.items()]
    total = sum(n for _, n in counts)
    return sum(n for k, n in counts if k >= 2) / total if total else None


def _print_check(report: CheckReport) -> None:
    """One column per discipline, one row per figure: reads at 80 columns with many disciplines."""
    columns = [*report.disciplines, report.total()] if len(report.disciplines) > 1 else report.disciplines
    figures: list[tuple[str, Callable[[DisciplineReport], object]]] = [
        ("documents", lambda d: d.documents), ("chunks", lambda d: d.chunks),
        ("L1 concepts", lambda d: d.concepts), ("L2 relations", lambda d: d.relations),
        ("L3 chains", lambda d: d.chains),
        ("L3 extracted / composed", lambda d: f"{d.chains_by_origin.get('extracted', 0)} / "
                                              f"{d.chains_by_origin.get('composed', 0)}"),
        ("L3 with >= 2 steps", lambda d: pct(_multi_step(d))),
        ("L1 on a chain (reachability)", lambda d: pct(d.concept_reachability)),
        ("L2 on a chain (reachability)", lambda d: pct(d.relation_reachability)),
        ("connected components", lambda d: d.components),
        ("giant component share", lambda d: pct(d.giant_component_share)),
        *([("hubs", lambda d: d.hubs),
           ("giant share without hubs", lambda d: pct(d.giant_component_share_without_hubs))]
          if any(d.hubs is not None for d in report.disciplines) else []),
        ("isolated concepts", lambda d: d.isolated_concepts), ("broken chains", lambda d: d.broken_chains),
        ("quarantined extractions", lambda d: d.quarantined),
        ("relations by extractor", lambda d: ", ".join(f"{k} {v}" for k, v in sorted(d.extractors.items())) or "-"),
    ]
    rows = [{"figure": name, **{d.discipline: get(d) for d in columns}} for name, get in figures]
    print_rows(rows, title="structural check", columns=["figure", *[d.discipline for d in columns]])
    console.print(f"[dim]components by {report.components_method or '-'}; reachability = share of elements "
                  "covered by some L3 chain (docs/method.md)[/dim]")


def check(
    ctx: typer.Context,
    discipline: str | None = typer.Option(None, "--discipline", "-d", help="Only this discipline."),
    types: bool = typer.Option(False, "--types", help="Also print the relation-type histogram."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    hubs: bool = typer.Option(False, "--hubs", help="Also count hub concepts and the giant-component share "
                              "without them (reads every concept and adjacency into this process: minutes on "
                              "millions of elements)."),
    remote: str | None = typer.Option(None, "--remote", envvar="PRODA_REMOTE", help="Run the check as a job on a "
                                      "ProDa server (grpc://host:port, grpcs:// for TLS; token from PRODA_API_TOKEN)."),
) -> None:
    """Structural report per discipline: counts, reachability %, components, orphans."""
    from proda.pipelines.check import CheckReport, structural_report

    if remote is not None and hubs:
        raise InputError("--hubs runs on this machine only: drop --remote, or drop --hubs")
    if remote is not None:
        from proda.services.client import ProdaClient

        with ProdaClient.from_url(remote, settings_from(ctx)) as client:
            report = CheckReport.model_validate(client.run_job(client.check_structure(discipline)))
    else:
        with store_for(ctx) as store:
            report = structural_report(store, discipline, hubs=hubs)
    if discipline is not None and not report.disciplines:
        raise InputError(f"discipline {discipline!r} has nothing in the graph")
    if as_json:
        print_json(report.model_dump())
        return
    _print_check(report)
    if types:
        rows = [{"discipline": d.discipline, "type": t, "relations": n}
                for d in report.disciplines for t, n in sorted(d.relation_types.items(), key=lambda x: -x[1])]
        print_rows(rows, title="relation types")


def stats(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Element counts per discipline (documents, chunks, L1, L2, L3)."""
    with store_for(ctx) as store:
        rows = store.query("discipline_counts", {})
    table: dict[str, dict[str, object]] = {}
    for r in rows:
        name = r["discipline"] or "(none)"
        table.setdefault(name, {"discipline": name})[r["element"]] = r["count"]
    out = [table[k] for k in sorted(table)]
    if as_json:
        print_json(out)
    else:
        print_rows(out, title="elements per discipline",
                   columns=["discipline", "documents", "chunks", "concepts", "relations", "chains"])
