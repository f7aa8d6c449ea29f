"""A bulk graph as CSV files for ``neo4j-admin database import full``: the offline way to seed Neo4j.

Node rows are written as a :class:`~proda.schema.store.bulk.BulkGraph` hands them out, so a streamed
graph is exported without holding the files' elements (the rows go to disk as the files are read).
Each label's header is a file of its own, written at the end once every column's type is known, and
named first in the ``--nodes`` argument: neo4j-admin reads several files as one, the header from the
first. Relationships are laid out whole anyway (their ends are checked against every node), so each
type is one file with its header.

Node ids share one id space (``:ID``), so relationship ends are element ids. Arrays use ``;``, the
default array delimiter of neo4j-admin; a list element containing ``;`` would split, so such input
raises :class:`ValueError` rather than export something different.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from proda.schema.store.bulk import BulkGraph, NodeSlice


def _neo4j_type(v: Any) -> str | None:
    """The neo4j-admin type of one value; None for a missing value (no property)."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "long"
    if isinstance(v, float):
        return "double"
    if isinstance(v, list):
        return "string[]"
    return "string"


def _cell(v: Any) -> str:
    """Every value is quoted so an empty string stays one; a missing value is an unquoted empty field,
    which neo4j-admin reads as "no property" (as the upsert path stores nothing for null)."""
    if v is None:
        return ""
    if isinstance(v, list):
        if any(";" in str(x) for x in v):
            raise ValueError(f"array value {v!r} contains ';', the neo4j-admin array delimiter")
        text = ";".join(str(x) for x in v)
    elif isinstance(v, bool):
        text = "true" if v else "false"
    elif isinstance(v, float):
        text = repr(v)
    else:
        text = str(v)
    return '"' + text.replace('"', '""') + '"'


def _types(rows: Iterable[Sequence[Any]], known: list[str | None]) -> None:
    """Fill ``known`` (a type per column, None while only missing values were seen) from ``rows``."""
    open_columns = [i for i, t in enumerate(known) if t is None]
    for row in rows:
        if not open_columns:
            return
        for i in list(open_columns):
            t = _neo4j_type(row[i])
            if t is not None:
                known[i] = t
                open_columns.remove(i)


class Neo4jAdminFiles:
    """The CSV files of one export, written as node rows arrive (:meth:`nodes`) and closed with the
    relationships and headers (:meth:`finish`)."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, IO[str]] = {}
        self._columns: dict[str, tuple[str, ...]] = {}
        self._types: dict[str, list[str | None]] = {}

    def nodes(self, slices: Iterable[NodeSlice]) -> None:
        """Append node rows, one file per label."""
        for label, columns, rows in slices:
            if not rows:
                continue
            fh = self._files.get(label)
            if fh is None:
                fh = self._files[label] = (self.out_dir / f"nodes_{label}.csv").open("w", encoding="utf-8")
                self._columns[label] = columns
                self._types[label] = [None] * len(columns)
            _types(rows, self._types[label])
            fh.writelines(",".join(map(_cell, row)) + "\n" for row in rows)

    def finish(self, graph: BulkGraph) -> list[str]:
        """Write the node headers and the relationships of ``graph`` (its edges laid out); returns the
        ``neo4j-admin database import full`` arguments that load the files, also written to
        ``import.args`` as a JSON list."""
        args: list[str] = []
        for label, fh in self._files.items():
            fh.close()
            types = self._types[label]
            header = ["id:ID" if c == "id" else f"{c}:{types[i] or 'string'}"
                      for i, c in enumerate(self._columns[label])]
            (self.out_dir / f"nodes_{label}.header.csv").write_text(",".join(header) + "\n", encoding="utf-8")
            args.append(f"--nodes={label}=nodes_{label}.header.csv,nodes_{label}.csv")
        self._files.clear()
        for edges in graph.edges:
            rows = edges.rows
            known: list[str | None] = [None] * len(edges.columns)
            _types(rows, known)
            header = [":START_ID", ":END_ID", *(f"{c}:{known[i] or 'string'}" for i, c in enumerate(edges.columns))]
            with (self.out_dir / f"rels_{edges.type}.csv").open("w", encoding="utf-8") as fh:
                fh.write(",".join(header) + "\n")
                fh.writelines(",".join((_cell(s), _cell(d), *map(_cell, r))) + "\n"
                              for s, d, r in zip(edges.src, edges.dst, rows, strict=True))
            args.append(f"--relationships={edges.type}=rels_{edges.type}.csv")
        args.append("--multiline-fields=true")  # chunk texts and evidence span lines
        (self.out_dir / "import.args").write_text(json.dumps(args) + "\n")
        return args

    def abandon(self) -> None:
        """Close what is open (an export that failed); the files written so far stay for inspection."""
        for fh in self._files.values():
            fh.close()
        self._files.clear()


def write_neo4j_admin(graph: BulkGraph, out_dir: Path) -> list[str]:
    """Export a finished, filed (not streamed) ``graph``; returns the import arguments (see
    :meth:`Neo4jAdminFiles.finish`)."""
    files = Neo4jAdminFiles(out_dir)
    try:
        files.nodes(NodeSlice(t.label, t.columns, t.rows) for t in graph.nodes.values())
        return files.finish(graph)
    finally:
        files.abandon()


__all__ = ["Neo4jAdminFiles", "write_neo4j_admin"]
