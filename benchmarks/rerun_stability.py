"""Does rerunning the loop leave the same graph? ``proda demo`` twice in one fresh home, compared.

Every stage of ProDa is meant to be idempotent: a rerun resumes, reuses what is done, and leaves the
graph as it was. This script runs ``proda demo`` (the whole loop on the bundled sample) in a new home,
takes every node's and edge's properties, runs it again in the same home, and compares: the elements
whose properties changed, per label, and which properties. Run timestamps (``*_at``) are counted
apart: a rerun records when it looked again. It also prints both runs' wall time and whether the
second reused the trained models.

Run::

    .venv/bin/python benchmarks/rerun_stability.py            # two demo runs, ~3 minutes
    .venv/bin/python benchmarks/rerun_stability.py --no-train # the graph stages only, ~40 s
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import temporary_home, write_json

from proda.cli.context import load_settings
from proda.schema.store import open_store

GRAPH = "proda_demo"


def _key(labels: Sequence[str], props: dict[str, Any], ends: tuple[Any, ...] = ()) -> str:
    return json.dumps([list(labels), props.get("id"), *ends], default=str)


def snapshot(home: Path) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every node and edge of the demo graph: a stable key -> (label or type, properties)."""
    settings = load_settings(home, graph_name=GRAPH)
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    with open_store(settings) as store:
        for r in store.run("MATCH (n) RETURN labels(n) AS l, properties(n) AS p"):
            out[_key(r["l"], r["p"])] = (r["l"][0] if r["l"] else "", r["p"])
        for r in store.run("MATCH (a)-[e]->(b) RETURN type(e) AS t, a.id AS a, b.id AS b, properties(e) AS p"):
            out[_key([r["t"]], r["p"], (r["a"], r["b"], r["p"].get("pos")))] = (r["t"], r["p"])
    return out


def compare(before: dict[str, tuple[str, dict[str, Any]]],
            after: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Elements only in one run, and per label the elements and properties that changed."""
    changed: Counter[str] = Counter()
    stamps: Counter[str] = Counter()
    fields: dict[str, Counter[str]] = {}
    for key in before.keys() & after.keys():
        label, p0 = before[key]
        p1 = after[key][1]
        diff = {f for f in p0.keys() | p1.keys() if p0.get(f) != p1.get(f)}
        if diff and all(f.endswith("_at") for f in diff):
            stamps[label] += 1
        elif diff:
            changed[label] += 1
            fields.setdefault(label, Counter()).update(f for f in diff if not f.endswith("_at"))
    return {"elements": len(before), "only_first": len(before.keys() - after.keys()),
            "only_second": len(after.keys() - before.keys()), "changed": dict(changed),
            "changed_fields": {k: dict(v) for k, v in fields.items()}, "timestamps_only": dict(stamps)}


def _demo(home: Path, train: bool) -> tuple[float, str]:
    t = time.perf_counter()
    cmd = [str(Path(sys.executable).parent / "proda"), "--home", str(home), "demo", "--graph", GRAPH]
    done = subprocess.run([*cmd, *([] if train else ["--no-train"])], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"proda demo failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return time.perf_counter() - t, done.stdout


def run(args: argparse.Namespace) -> dict[str, Any]:
    with temporary_home("proda-rerun-") as home:
        first_s, _ = _demo(home, args.train)
        first = snapshot(home)
        second_s, log = _demo(home, args.train)
        second = snapshot(home)
    reused = sum("(already trained: reused)" in line for line in log.splitlines())
    return {"first_s": first_s, "second_s": second_s, "train": args.train, "models_reused": reused,
            **compare(first, second)}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--no-train", dest="train", action="store_false", help="stop before the model stages")
    p.add_argument("--json", type=Path, default=Path("benchmarks/results/rerun_stability.json"))
    args = p.parse_args(argv)
    r = run(args)
    write_json(args.json, r)
    print(f"first run {r['first_s']:.1f} s, rerun {r['second_s']:.1f} s; {r['elements']:,} nodes and edges; "
          f"only in the first {r['only_first']}, only in the rerun {r['only_second']}")
    print(f"changed by the rerun: {r['changed'] or 'nothing'}; fields: {r['changed_fields'] or '-'}")
    print(f"timestamps only: {r['timestamps_only'] or 'none'}; trained models reused by the rerun: "
          f"{r['models_reused']}")
    return 0 if not r["changed"] and not r["only_first"] and not r["only_second"] else 1


if __name__ == "__main__":
    sys.exit(main())
