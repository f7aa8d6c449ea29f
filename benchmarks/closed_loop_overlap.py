"""How much of the test split the closed loop's dev failures can reach (a benchmark, not a test).

Reads a home kept by ``benchmarks/closed_loop.py --home`` / ``--from-home`` after a run: the
Debugger's stored diagnoses of V1's patched-from evaluation (weak relations and weak concepts) and
the measured split's items with their chains. Prints how many measured items test a chain that holds
a weak relation, and how many hold a weak concept anywhere on their chain: targeted patches restate
weak relations, so they can reach the first group directly and the second only through concepts.

Run::

    .venv/bin/python benchmarks/closed_loop_overlap.py --home /tmp/clhome --run cl-v1-fc958335-dev
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from closed_loop import BENCH

from proda.config import Settings
from proda.schema.store import open_store


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--home", type=Path, required=True, help="a home the closed loop kept")
    p.add_argument("--run", required=True, help="name or id of V1's patched-from evaluation run (cl-v1-...-dev)")
    p.add_argument("--split", default="test", help="the measured split")
    a = p.parse_args(argv)
    if not (a.home / "falkordb").is_dir():
        print(f"error: {a.home} holds no graph (falkordb/)", file=sys.stderr)
        return 2
    settings = Settings.model_validate({"home": a.home, "graph_name": "proda_closed_loop"})
    with open_store(settings) as store:
        runs = store.query("eval_runs", {"run": a.run, "limit": 1})
        if not runs:
            print(f"error: no evaluation run {a.run!r} in {a.home}", file=sys.stderr)
            return 2
        diagnoses = store.query("debug_diagnoses", {"run_id": runs[0]["id"], "discipline": None})
        weak_relations = {r for d in diagnoses for r in json.loads(d["record"])["weak_relations"]}
        weak_concepts = {c for d in diagnoses for c in d["weak_concepts"]}
        items = store.query("bench_items", {"benchmark": BENCH, "discipline": None, "split": a.split, "id": None})
        chains = {c["id"]: c for d in sorted({i["discipline"] for i in items})
                  for c in store.query("debug_chains", {"discipline": d})}
    on_chain = [chains.get(i["chain_id"]) or {"relation_ids": [], "concept_ids": []} for i in items]
    by_relation = sum(bool(set(c["relation_ids"] or ()) & weak_relations) for c in on_chain)
    by_concept = sum(bool(set(c["concept_ids"] or ()) & weak_concepts) for c in on_chain)
    print(f"{len(diagnoses)} diagnoses of {runs[0]['name']}: {len(weak_relations)} weak relations, "
          f"{len(weak_concepts)} weak concepts")
    print(f"{a.split} items: {len(items)}; testing a chain with a weak relation: {by_relation}; "
          f"with a weak concept on the chain: {by_concept}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
