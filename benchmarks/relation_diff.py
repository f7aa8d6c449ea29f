"""Relations one kept graph holds and another does not (not a test): what an extractor change drops.

Two graphs built by ``knowledge_density.py --keep`` from the same corpus with two versions of an
extractor hold the same relation ids wherever both versions state the same triple (ids derive from
subject, type and object), so the difference is what the change removed and added. The script prints
the counts by relation type and a seeded random sample of each side with its evidence, for a person
to read: a rule that drops relations is worth keeping where most of what it drops is wrong. Either side
may also be a JSONL file of ``extract_sample.py`` (a sample of chunks instead of a whole graph).

Run::

    .venv/bin/python benchmarks/relation_diff.py /tmp/kd11 /tmp/kd14 --sample 40 --seed 21
    .venv/bin/python benchmarks/relation_diff.py /tmp/before.jsonl /tmp/after.jsonl --sample 40 --seed 21
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

from proda.config import Settings
from proda.schema.store import open_store

QUERY = ("MATCH (a:Concept)-[r:RELATION]->(b:Concept) RETURN r.id AS id, a.name AS subject, r.type AS type, "
         "b.name AS object, r.evidence AS evidence, a.discipline AS discipline")


def relations(home: Path, graph: str) -> dict[str, dict[str, Any]]:
    """The relations of a kept graph, or of an ``extract_sample.py`` file, by id."""
    if home.is_file():
        with home.open(encoding="utf-8") as fh:
            return {r["id"]: r for r in map(json.loads, fh)}
    settings = Settings.model_validate({"home": home, "graph_name": graph})
    with open_store(settings) as store:
        return {str(r["id"]): r for r in store.run(QUERY)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("before", type=Path, help="PRODA_HOME of the graph built first, or an extract_sample.py file")
    p.add_argument("after", type=Path, help="PRODA_HOME of the graph built after the change, or such a file")
    p.add_argument("--graph", default="proda_density", help="graph name in both homes")
    p.add_argument("--sample", type=int, default=40, help="relations to print from each side")
    p.add_argument("--seed", type=int, default=21)
    p.add_argument("--discipline", action="append", default=None, help="only these disciplines (repeatable)")
    p.add_argument("--json", type=Path, default=None, help="also write both sides here")
    a = p.parse_args(argv)
    before, after = relations(a.before, a.graph), relations(a.after, a.graph)
    keep = set(a.discipline) if a.discipline else None
    gone = sorted((before[k] for k in before.keys() - after.keys() if keep is None or before[k]["discipline"] in keep),
                  key=lambda r: r["id"])
    new = sorted((after[k] for k in after.keys() - before.keys() if keep is None or after[k]["discipline"] in keep),
                 key=lambda r: r["id"])
    print(f"{len(before):,} relations before, {len(after):,} after: {len(gone):,} dropped, {len(new):,} added")
    for side, rows in (("dropped", gone), ("added", new)):
        print(f"{side} by type: " + ", ".join(f"{t} {n}" for t, n in Counter(r["type"] for r in rows).most_common()))
        for i, r in enumerate(sorted(random.Random(a.seed).sample(rows, min(a.sample, len(rows))),
                                     key=lambda r: r["id"]), 1):
            print(f"  {side} {i}. [{r['discipline']}] {r['subject']} -[{r['type']}]-> {r['object']}"
                  f"  ::  {(r['evidence'] or '')[:240]}")
    if a.json is not None:
        a.json.write_text(json.dumps({"dropped": gone, "added": new}, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
