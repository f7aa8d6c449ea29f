"""What the benchmark scripts share: percentiles, percent figures, a throw-away PRODA_HOME, JSON output.

benchmarks/ is a folder of scripts run as ``python benchmarks/x.py``, not a package: each script puts
its own folder first on ``sys.path`` and imports this module as ``common``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile (``q`` from 0 to 100) of ``values``, interpolating linearly between
    the closest ranks (numpy's default); NaN when there are no values."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def percent(share: float | None) -> str:
    """A share as a table cell: ``0.1234`` -> ``"12.3%"``, None -> ``"-"``."""
    return "-" if share is None else f"{100 * share:.1f}%"


@contextlib.contextmanager
def temporary_home(prefix: str, *, link_models: bool = False) -> Iterator[Path]:
    """A fresh, empty PRODA_HOME under the system's temporary directory, removed on exit.

    With ``link_models`` the user's ``models/`` folder (under ``$PRODA_HOME``, else ``.proda``) is
    linked in when it exists: a base model converted once (the dequantized SmolLM2) is reused, since
    converting it is not what a benchmark measures.
    """
    home = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        if link_models:
            link_user_models(home)
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def link_user_models(home: Path) -> None:
    """Link the user's ``models/`` folder (under ``$PRODA_HOME``, else ``.proda``) into ``home`` when it
    exists and ``home`` has none of its own."""
    user_models = Path(os.environ.get("PRODA_HOME", ".proda")) / "models"
    if user_models.exists() and not (home / "models").exists():
        (home / "models").symlink_to(user_models.resolve())


def package_versions(names: Iterable[str]) -> dict[str, str]:
    """Installed versions of ``names`` ("absent" when one is not installed). Figures that depend on
    numerical libraries (a trained model's, a converter's output) can move between installations whose
    versions differ within the project's ranges; a result records which ones produced it."""
    from importlib import metadata

    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def print_legs(median: Mapping[str, Mapping[str, float]], legs: Iterable[str],
               columns: Iterable[tuple[str, str, str]]) -> None:
    """A table of a benchmark's legs: a row per leg, a column per (title, key in its medians, format)."""
    cols = [(title, key, max(len(title), 8), fmt) for title, key, fmt in columns]
    print(f"{'path':12s} " + " ".join(f"{title:>{width}s}" for title, _, width, _ in cols))
    for leg in legs:
        print(f"{leg:12s} " + " ".join(format(median[leg][key], f">{width}{fmt}") for _, key, width, fmt in cols))


def run_and_report(args: Any, run: Callable[[Any, Callable[[str], None]], Any],
                   report: Callable[[Any], None]) -> int:
    """A benchmark's main work: ``run`` with a log (silent with ``--quiet``), its result written to
    ``--json`` and printed by ``report``; returns the exit status."""
    result = run(args, (lambda m: None) if args.quiet else (lambda m: print(m, flush=True)))
    write_json(args.json, result)
    report(result)
    return 0


def write_json(path: Path, data: Any) -> None:
    """Write a result as indented JSON (values JSON cannot hold, e.g. paths, as strings), creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str))


def write_jsonl(path: Path, records: Iterable[Mapping[str, Any]]) -> None:
    """Write one JSON object per line (UTF-8 text kept as is), creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def until_indexed(store: Any) -> None:
    """A load counts as done when every index is operational (FalkorDB may still be filling one)."""
    while store.schema_pending():
        time.sleep(0.01)


def until_compacted(conn: Any) -> None:
    """Wait for the append-only compaction (rewrite) a FalkorDB server is running or has scheduled to end,
    so that one leg's compaction is not charged to the next (``conn``: a redis client of the server)."""
    while any(conn.info("persistence").get(k) for k in ("aof_rewrite_in_progress", "aof_rewrite_scheduled")):
        time.sleep(0.05)


def graph_shape(store: Any) -> tuple[int, int]:
    """(nodes, edges) of a store's graph: legs that must build the same graph are compared by it."""
    nodes = store.run("MATCH (n) RETURN count(n) AS n")[0]["n"]
    return nodes, store.run("MATCH ()-[r]->() RETURN count(r) AS n")[0]["n"]
