"""``proda demo``: the loop on the bundled sample, on the embedded graph, offline.

Today it loads a small hand-made extraction of two OpenStax modules, ingests eight more, extracts
L3/L2/L1 from every chunk with the offline heuristic extractor, resolves duplicate concepts, runs
the structural check and walks one chain back to its evidence. Later stages append
their steps here. Every step is idempotent: a second run reports that nothing changed.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from proda.cli.context import load_settings, settings_from
from proda.cli.knowledge import _print_check
from proda.cli.output import console, print_rows

if TYPE_CHECKING:
    from proda.schema.store import GraphStore


def sample_path(name: str = "knowledge.jsonl") -> Path:
    """Path of a bundled sample file (installed as package data of ``proda.sample``)."""
    return Path(str(resources.files("proda.sample") / name))


def _disciplines(store: GraphStore) -> set[str]:
    rows = store.query("discipline_counts", {"discipline": None})
    return {r["discipline"] for r in rows if r["element"] == "concepts" and r["discipline"]}


def demo(
    ctx: typer.Context,
    graph: str = typer.Option("proda_demo", "--graph", help="Graph name to use (kept apart from your data)."),
) -> None:
    """Run the whole loop on the bundled sample with the embedded graph (offline, no keys)."""
    from proda.pipelines.check import structural_report
    from proda.pipelines.extract.config import ExtractConfig
    from proda.pipelines.extract.resolve import merge
    from proda.pipelines.extract.resolve_candidates import find_candidates
    from proda.pipelines.extract.stage import run_extraction, shard_counter
    from proda.pipelines.ingest import ingest_paths
    from proda.pipelines.load import load_file
    from proda.schema.store import open_store

    base = settings_from(ctx)
    settings = load_settings(base.home, graph_url=base.graph_url, graph_name=graph)
    console.rule("[bold]ProDa demo")
    with open_store(settings) as store:
        console.print(f"graph: {store.backend} at {store.url}, graph {graph!r}")
        console.rule("1. load a hand-made L1/L2/L3 extraction of two modules (multi-step chains, extractor=manual)")
        report = load_file(store, sample_path(), home=settings.home, restart=True)
        console.print(f"{report.lines} records; wrote " +
                      ", ".join(f"{n} {k}s" for k, n in sorted(report.written.items())))
        console.rule("2. ingest eight textbook modules (4 disciplines) into Document and Chunk nodes")
        ingested = ingest_paths(store, [sample_path("corpus.jsonl")])
        console.print(ingested.summary())
        console.rule("3. extract L3 chains -> L2 relations -> L1 concepts (offline heuristic baseline, "
                     "every pending chunk)")
        extraction = run_extraction(store, ExtractConfig(), settings.home)
        done = extraction.shards
        console.print(f"{sum(s.chunks for s in done)} chunks extracted in {len(done)} discipline shards: "
                      + (", ".join(f"{n} {k}s" for k, n in sorted(shard_counter(done).items())) or "nothing new")
                      + " (labelled extractor=heuristic)")
        console.rule("4. entity resolution: merge concepts that name the same thing (undoable)")
        merged = [m for d in sorted({s.discipline for s in done} | _disciplines(store))
                  for m in merge(store, find_candidates(store, d))]
        for m in merged[:5]:
            console.print(f"  {m.duplicate_name!r} -> {m.canonical_name!r} ({m.method}, {m.id})")
        console.print(f"{len(merged)} merges; `proda merges` lists them, `proda merges --undo ID` reverts one")
        console.rule("5. structural check: reachability and components")
        _print_check(structural_report(store))
        console.rule("6. trace the longest L3 chain back to its evidence")
        chains = store.run("MATCH (c:Chain) RETURN c.id AS id ORDER BY c.length DESC, c.id LIMIT 1")
        rows = store.query("chain_detail", {"id": chains[0]["id"]})
        print_rows(rows, columns=["pos", "concept_name", "relation_type", "evidence", "document_title"])
        console.rule("7. L2 relations no chain covers (reachability gaps)")
        print_rows(store.query("uncovered_relations", {"limit": 10}),
                   columns=["type", "subject", "object", "discipline"])
    console.print("\n[bold green]demo finished.[/bold green] Try `proda query --list` and "
                  "`proda query --show chain_detail`.")
