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


Snapshot = dict[str, tuple[str, list[dict[str, Any]]]]


def snapshot(home: Path) -> Snapshot:
    """Every node and edge of the demo graph: a stable key (labels or type, id, ends) -> (label or type,
    the properties of every element with that key). Most keys name one element; an edge without an id
    between the same two nodes, or a node without an id, may share its key, so each key holds a list."""
    settings = load_settings(home, graph_name=GRAPH)
    out: Snapshot = {}
    with open_store(settings) as store:
        for r in store.run("MATCH (n) RETURN labels(n) AS l, properties(n) AS p"):
            out.setdefault(_key(r["l"], r["p"]), (r["l"][0] if r["l"] else "", []))[1].append(r["p"])
        for r in store.run("MATCH (a)-[e]->(b) RETURN type(e) AS t, a.id AS a, b.id AS b, properties(e) AS p"):
            key = _key([r["t"]], r["p"], (r["a"], r["b"], r["p"].get("pos")))
            out.setdefault(key, (r["t"], []))[1].append(r["p"])
    for _, props in out.values():
        props.sort(key=lambda p: json.dumps(p, sort_keys=True, default=str))
    return out


def compare(before: Snapshot, after: Snapshot) -> dict[str, Any]:
    """Elements only in one run, and per label the elements and properties that changed."""
    changed: Counter[str] = Counter()
    stamps: Counter[str] = Counter()
    fields: dict[str, Counter[str]] = {}
    only_first = sum(len(before[k][1]) for k in before.keys() - after.keys())
    only_second = sum(len(after[k][1]) for k in after.keys() - before.keys())
    for key in before.keys() & after.keys():
        label, ps0 = before[key]
        ps1 = after[key][1]
        if len(ps0) != len(ps1):
            only_first += max(0, len(ps0) - len(ps1))
            only_second += max(0, len(ps1) - len(ps0))
        for p0, p1 in zip(ps0, ps1, strict=False):
            diff = {f for f in p0.keys() | p1.keys() if p0.get(f) != p1.get(f)}
            if diff and all(f.endswith("_at") for f in diff):
                stamps[label] += 1
            elif diff:
                changed[label] += 1
                fields.setdefault(label, Counter()).update(f for f in diff if not f.endswith("_at"))
    return {"elements": sum(len(ps) for _, ps in before.values()), "only_first": only_first,
            "only_second": only_second, "changed": dict(changed),
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
