"""``proda demo``: the loop on the bundled sample, on the embedded graph, offline.

Today it loads the sample knowledge (two OpenStax modules, hand-extracted L1/L2/L3), runs the
structural check, and walks one chain back to its evidence. Later stages append their steps here.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import typer

from proda.cli.context import load_settings, settings_from
from proda.cli.knowledge import _print_check
from proda.cli.output import console, print_rows


def sample_path(name: str = "knowledge.jsonl") -> Path:
    """Path of a bundled sample file (installed as package data of ``proda.sample``)."""
    return Path(str(resources.files("proda.sample") / name))


def demo(
    ctx: typer.Context,
    graph: str = typer.Option("proda_demo", "--graph", help="Graph name to use (kept apart from your data)."),
) -> None:
    """Run the whole loop on the bundled sample with the embedded graph (offline, no keys)."""
    from proda.pipelines.check import structural_report
    from proda.pipelines.load import load_file
    from proda.schema.store import open_store

    base = settings_from(ctx)
    settings = load_settings(base.home, graph_url=base.graph_url, graph_name=graph)
    console.rule("[bold]ProDa demo")
    with open_store(settings) as store:
        console.print(f"graph: {store.backend} at {store.url}, graph {graph!r}")
        console.rule("1. load the sample knowledge (L1 concepts, L2 relations, L3 chains)")
        report = load_file(store, sample_path(), home=settings.home, restart=True)
        console.print(f"{report.lines} records; wrote " +
                      ", ".join(f"{n} {k}s" for k, n in sorted(report.written.items())))
        console.rule("2. structural check: reachability and components")
        _print_check(structural_report(store))
        console.rule("3. trace one L3 chain back to its evidence")
        chains = store.run("MATCH (c:Chain) RETURN c.id AS id ORDER BY c.length DESC, c.id LIMIT 1")
        rows = store.query("chain_detail", {"id": chains[0]["id"]})
        print_rows(rows, columns=["pos", "concept_name", "relation_type", "evidence", "document_title"])
        console.rule("4. what the chain does not cover")
        print_rows(store.query("uncovered_relations", {"limit": 10}),
                   columns=["type", "subject", "object", "discipline"])
    console.print("\n[bold green]demo finished.[/bold green] Try `proda query --list` and "
                  "`proda query --show chain_detail`.")
