"""Console output shared by the CLI commands: rich tables for people, JSON for machines."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from proda.errors import ConfigError, GraphUnavailable, InputError, NotFound, ProdaError

# Rich falls back to 80 columns when stdout is not a terminal (pipes, CI logs), which folds id and
# name columns into unreadable slivers; 140 keeps a row on a line. COLUMNS still wins when set.
console = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 140)
# soft_wrap: an error naming file:line must stay on one line for grep, whatever the terminal width
err_console = Console(stderr=True, soft_wrap=True)


def exit_code(e: ProdaError) -> int:
    """Exit status per error family: 2 bad input or config, 3 graph unreachable, 4 not found, 1 other."""
    if isinstance(e, InputError | ConfigError):
        return 2
    if isinstance(e, GraphUnavailable):
        return 3
    if isinstance(e, NotFound):
        return 4
    return 1


# file-system errors a user's path causes: like InputError, exit 2; any other (a full disk) exits 1
_PATH_ERRORS = (FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError, PermissionError)


def path_error(e: OSError) -> tuple[str, int] | None:
    """The one-line message and exit status of a file-system error that names a path (None for one that
    names none: a socket's, which the stores wrap as GraphUnavailable before it gets here)."""
    if e.filename is None:
        return None
    where = f"{e.filename} -> {e.filename2}" if e.filename2 is not None else str(e.filename)
    hint = ""
    if isinstance(e, FileExistsError) and os.path.isfile(e.filename):
        hint = " (a folder is needed there; a file of that name is in the way)"
    elif isinstance(e, NotADirectoryError):
        hint = " (a part of this path is a file, not a folder)"
    elif isinstance(e, IsADirectoryError):
        hint = " (a file is needed there; this is a folder)"
    return f"{where}: {e.strerror or e}{hint}", 2 if isinstance(e, _PATH_ERRORS) else 1


def print_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout (no colour, no wrapping) for machines."""
    print(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}"
    if isinstance(v, list | dict):
        s = json.dumps(v, ensure_ascii=False)
        return s if len(s) <= 80 else s[:77] + "..."
    return str(v)


def print_rows(rows: Sequence[Mapping[str, Any]], title: str | None = None,
               columns: Iterable[str] | None = None) -> None:
    """Print dict rows as a table (columns from the first row unless given)."""
    cols = list(columns) if columns is not None else (list(rows[0]) if rows else [])
    table = Table(title=title, show_lines=False, header_style="bold")
    for c in cols:
        table.add_column(c, overflow="fold")
    for r in rows:
        table.add_row(*(_cell(r.get(c)) for c in cols))
    console.print(table)
    if not rows:
        console.print("[dim](no rows)[/dim]")


def bytes_progress(*, disable: bool = False) -> Progress:
    """A bar over the bytes of the files a command reads (a description, the bar, bytes done of all, time
    left), gone once the command's own output follows."""
    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                    console=console, disable=disable, transient=True)


def pct(x: float | None) -> str:
    """A share as a percentage with one decimal, or '-'."""
    return "-" if x is None else f"{100 * x:.1f}%"
