"""The ``proda`` command: one subcommand per stage. Heavy imports stay inside commands."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from proda import __version__
from proda.cli import bench, debug, extract, graph, knowledge, loop, patch, resolve
from proda.cli import build as build_cmd
from proda.cli import compose as compose_cmd
from proda.cli import demo as demo_cmd
from proda.cli import evaluate as eval_cmd
from proda.cli import query as query_cmd
from proda.cli import refine as refine_cmd
from proda.cli import serve as serve_cmd
from proda.cli import studio as studio_cmd
from proda.cli import train as train_cmd
from proda.cli.context import load_settings
from proda.cli.output import err_console, exit_code, path_error
from proda.errors import ProdaError

app = typer.Typer(
    name="proda",
    help="ProDa: programming with data. A knowledge graph (L1 concepts, L2 relations, L3 chains) from "
         "which benchmarks and training data are derived, and to which failures are traced back.\n\n"
         "State lives under PRODA_HOME (default ./.proda). The graph is an embedded FalkorDB unless "
         "PRODA_GRAPH_URL names falkordb://host:port or neo4j://host:port.",
    rich_markup_mode="markdown", no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(graph.app, name="graph")
app.add_typer(bench.app, name="bench")
app.add_typer(refine_cmd.app, name="refine")
app.add_typer(debug.app, name="debug")
app.command()(extract.ingest)
app.add_typer(extract.extract_app, name="extract")
app.command()(resolve.resolve)
app.command()(resolve.merges)
app.command()(compose_cmd.compose)
app.command()(build_cmd.build)
app.command()(train_cmd.train)
app.command(name="eval")(eval_cmd.evaluate)
app.command()(patch.patch)
app.command()(loop.loop)
app.command()(knowledge.load)
app.command()(knowledge.check)
app.command()(knowledge.stats)
app.command()(query_cmd.query)
app.command()(demo_cmd.demo)
app.command()(serve_cmd.serve)
app.command()(studio_cmd.studio)


def _version(value: bool) -> None:
    if value:
        print(f"proda {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    home: Path | None = typer.Option(None, "--home", envvar="PRODA_HOME", help="State directory (graph data, "
                                     "runs, caches). Default ./.proda."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Validate the settings once for every command."""
    ctx.obj = load_settings(home)


def main() -> None:
    """Console entry point: ProDa errors become one red line and a meaningful exit status."""
    # The commands draw their own progress bars; the model libraries' bars (loading weights, fetching
    # files) would interleave with them. Set HF_HUB_DISABLE_PROGRESS_BARS=0 to see those again.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        app()
    except ProdaError as e:
        err_console.print(f"[bold red]error:[/bold red] {e}", highlight=False)
        sys.exit(exit_code(e))
    except OSError as e:  # a path the user gave that cannot be read or written: one line, not a traceback
        known = path_error(e)
        if known is None:
            raise
        message, status = known
        err_console.print(f"[bold red]error:[/bold red] {message}", highlight=False)
        sys.exit(status)


if __name__ == "__main__":
    main()
