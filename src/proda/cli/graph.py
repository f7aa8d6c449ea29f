"""``proda graph``: start, stop and inspect the graph database."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from proda.cli.context import settings_from, store_for
from proda.cli.output import bytes_progress, console, print_json, print_rows

if TYPE_CHECKING:
    from proda.schema.store.writer import Element

app = typer.Typer(help="Start, stop and inspect the graph (embedded FalkorDB unless PRODA_GRAPH_URL is set).",
                  rich_markup_mode="markdown", no_args_is_help=True)


@app.command()
def up(ctx: typer.Context) -> None:
    """Start the embedded FalkorDB under PRODA_HOME and leave it running for later commands."""
    from proda.schema.store import EmbeddedFalkorDB

    settings = settings_from(ctx)
    if settings.graph_url is not None:
        with store_for(ctx) as store:
            console.print(f"external graph configured at {store.url}: it answers; nothing to start")
        return
    info, started = EmbeddedFalkorDB(settings.home).ensure_running()
    with store_for(ctx):  # creates the schema
        pass
    verb = "started" if started else "already running"
    console.print(f"embedded FalkorDB {verb}: {info.url} (pid {info.pid}, data {info.data_dir})")


@app.command()
def down(ctx: typer.Context) -> None:
    """Stop the embedded FalkorDB (its append-only file is flushed; data stays on disk)."""
    from proda.schema.store import EmbeddedFalkorDB

    settings = settings_from(ctx)
    if settings.graph_url is not None:
        console.print("external graph configured: ProDa does not stop servers it did not start")
        return
    stopped = EmbeddedFalkorDB(settings.home).stop()
    console.print("embedded FalkorDB stopped" if stopped else "embedded FalkorDB was not running")


@app.command()
def status(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Say whether the graph runs, where, and how much it holds."""
    from dataclasses import asdict

    from proda.schema.store import EmbeddedFalkorDB, FalkorDBStore

    settings = settings_from(ctx)
    out: dict[str, object] = {"backend": settings.backend, "graph": settings.graph_name}
    if settings.graph_url is None:
        info = EmbeddedFalkorDB(settings.home).status()
        out.update(running=info is not None, url=info.url if info else None, pid=info.pid if info else None,
                   home=str(settings.home.absolute()))
        if info is None:
            if as_json:
                print_json(out)
            else:
                console.print(f"embedded FalkorDB is not running (home {settings.home.absolute()}); "
                              "`proda graph up` starts it, and other commands start it on demand")
            return
    hold = None
    with store_for(ctx) as store:
        out["url"] = store.url
        out["running"] = True
        out["counts"] = store.query("discipline_counts", {})
        if isinstance(store, FalkorDBStore) and store.owns_server:
            hold = store.rewrite_hold()
            out["compaction_hold"] = asdict(hold) if hold else None
    if as_json:
        print_json(out)
        return
    console.print(f"{settings.backend} graph {settings.graph_name!r} at {out['url']} is up")
    if hold is not None:
        # the embedded server's append-only compaction waits while bulk passes run (falkordb_rewrites)
        console.print(f"append-only compaction held by {hold.running} running bulk pass(es)"
                      + (f"; {hold.ended} pass(es) ended without letting go: the next bulk pass or "
                         "`proda graph reset` lets go" if hold.ended else ""))
    counts = out["counts"]
    assert isinstance(counts, list)
    print_rows(counts, title="elements per discipline")


@app.command()
def reset(ctx: typer.Context,
          yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation.")) -> None:
    """Delete every element of the configured graph (indexes are recreated)."""
    settings = settings_from(ctx)
    if not yes:
        typer.confirm(f"Delete everything in graph {settings.graph_name!r}?", abort=True)
    with store_for(ctx) as store:
        store.clear()
    console.print(f"graph {settings.graph_name!r} is empty")


@app.command()
def export(
    out_dir: Path = typer.Argument(..., help="Directory for the CSV files (created; existing files are replaced)."),
    files: list[Path] = typer.Option(..., "--input", "-i", help="JSONL knowledge files, as `proda load` takes."),
    fmt: str = typer.Option("neo4j-admin", "--format", help="Only `neo4j-admin` (database import full)."),
) -> None:
    """Write knowledge files as node and relationship CSVs for `neo4j-admin database import full`.

    The CSVs hold exactly the nodes, edges and properties that `proda load` of the same files writes,
    so an offline import seeds a Neo4j database (or cluster) at bulk speed; load later files with
    `proda load`. Exits with an error when a file needs the upsert path (an id used twice, a reference
    to an element in none of the files, a chain step without its relation).
    """
    from proda.errors import BulkRefused, InputError
    from proda.pipelines.load import ReadCount, file_elements
    from proda.schema.store.bulk import BulkGraph, gc_paused
    from proda.schema.store.neo4j_admin import Neo4jAdminFiles
    from proda.schema.vocabulary import default_vocabulary

    if fmt != "neo4j-admin":
        raise InputError(f"unknown export format {fmt!r}; the one format is neo4j-admin")
    for path in files:
        if not path.is_file():
            raise InputError("no such file", source=str(path))
    # streamed: node rows go to disk as the files are read, so an export holds only what its edges need
    graph, vocab, out = BulkGraph(streamed=True), default_vocabulary(), Neo4jAdminFiles(out_dir)
    size = sum(path.stat().st_size for path in files)
    try:
        with gc_paused(), bytes_progress() as bar:
            task = bar.add_task("exporting", total=size or None)
            read = ReadCount()  # over all the files: one bar for them all

            def advance(_line: int, done: int) -> None:
                bar.update(task, completed=done)

            def elements(path: Path) -> Iterator[Element]:
                def bad(line: int, reason: str) -> None:
                    raise InputError(reason, source=str(path), line=line)

                return (e for _, e in file_elements(path, vocab, bad, read, advance))

            graph.fill(itertools.chain.from_iterable(map(elements, files)), out.nodes)
            bar.update(task, description="checking the references")
            problem = graph.finish()
        if problem is not None:
            raise BulkRefused(problem)
        args = out.finish(graph)
    except BulkRefused as e:
        raise InputError(f"cannot export in one pass: {e.reason}; load it with `proda load` instead") from None
    finally:
        out.abandon()
    console.print(f"wrote {graph.node_count():,} nodes and {graph.edge_count():,} relationships to {out_dir}")
    console.print(f"import (database stopped): cd {out_dir} && neo4j-admin database import full "
                  f"{' '.join(args)} neo4j")
