"""Draw the samples a person reads to audit a graph (not a test): items, composed chains, merges.

Numbers a generator can inflate need a human check. This script draws, with a fixed seed, random
benchmark items (question, options with their operators and, for a distractor, the statements it was
derived from, the chain's steps with evidence and the text of every chunk the chain rests on), random
composed chains (each step with its evidence and chunk text) and random merges (both names with the
evidence of a relation of each), and writes one JSONL file per kind. A reader adds a verdict to each
line (``docs/audits/README.md`` says which); ``audit_report.py`` turns the verdict files into the rates
the README quotes.

Run (on a graph kept by ``knowledge_density.py --keep HOME``)::

    .venv/bin/python benchmarks/audit_sample.py --home /tmp/density-home --graph proda_density \\
        --benchmark density --out docs/audits
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

from proda.config import Settings
from proda.pipelines.extract.resolve_candidates import DEFAULT_THRESHOLD, plan_candidates, spelled_variants
from proda.schema.store import open_store
from proda.schema.store.base import GraphStore


def _chunk_texts(store: GraphStore, chunk_ids: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for cid in dict.fromkeys(c for c in chunk_ids if c):
        rows = store.query("studio_chunk", {"id": cid})
        if rows:
            out[cid] = rows[0]["text"]
    return out


def _steps(store: GraphStore, chain_id: str) -> list[dict[str, Any]]:
    return [{k: r[k] for k in ("pos", "concept_name", "relation_type", "evidence", "chunk_id", "document_title")}
            for r in store.query("chain_detail", {"id": chain_id})]


def _derivation(store: GraphStore, via: list[str]) -> list[str]:
    """The statements a distractor was derived from: ``subject -type-> object: evidence`` per relation id."""
    out = []
    for rid in via:
        rows = store.query("studio_relation", {"id": rid})
        if rows:
            r = rows[0]
            out.append(f"{r['subject_name']} -{r['type']}-> {r['object_name']}: {r['evidence']}")
    return out


def items(store: GraphStore, benchmark: str, n: int, rng: random.Random, only: set[str] | None,
          read: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    rows = [r for r in store.query("bench_items", {"benchmark": benchmark, "discipline": None, "split": None,
                                                   "id": None})
            if (only is None or r["discipline"] in only) and r["id"] not in read and r["chain_id"] not in read]
    picked = rng.sample(rows, min(n, len(rows)))
    out = []
    for r in sorted(picked, key=lambda x: x["id"]):
        record = json.loads(r["record"])
        steps = _steps(store, record["chain_id"])
        out.append({"id": r["id"], "chain_id": record["chain_id"], "discipline": r["discipline"],
                    "question": record["question"],
                    "options": [{"text": o["text"], "correct": o["correct"], "operator": o["operator"],
                                 "kind": o["kind"], "detail": o["detail"],
                                 **({} if o["correct"] else {"from": _derivation(store, o["via"])})}
                                for o in record["options"]],
                    "chain": steps, "chunks": _chunk_texts(store, [s["chunk_id"] for s in steps])})
    return out


def composed_chains(store: GraphStore, n: int, rng: random.Random, only: set[str] | None,
                    read: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    # a sampling read for this script only, not part of the product's catalog; a composed chain's id derives
    # from its relations', so a chain read in an earlier round keeps its id in a rebuilt graph
    ids = [r["id"] for r in store.run("MATCH (c:Chain) WHERE c.origin = 'composed' "
                                      "RETURN c.id AS id, c.discipline AS discipline ORDER BY id")
           if (only is None or r["discipline"] in only) and r["id"] not in read]
    out = []
    for cid in sorted(rng.sample(ids, min(n, len(ids)))):
        detail = store.query("chain_detail", {"id": cid})
        steps = _steps(store, cid)
        out.append({"id": cid, "discipline": detail[0]["discipline"] if detail else None, "chain": steps,
                    "chunks": _chunk_texts(store, [s["chunk_id"] for s in steps])})
    return out


def merges(store: GraphStore, n: int, rng: random.Random, only: set[str] | None,
           methods: set[str] | None = None) -> list[dict[str, Any]]:
    rows = [r for r in store.query("merges", {"discipline": None, "include_undone": False, "id": None})
            if (only is None or r["discipline"] in only) and (methods is None or r["method"] in methods)]
    out = []
    for m in sorted(rng.sample(rows, min(n, len(rows))), key=lambda x: x["id"]):
        context = {}
        for side in ("duplicate", "canonical"):
            facts = store.query("concept_neighbours", {"id": m[f"{side}_id"], "type": None, "limit": 2})
            context[side] = [{k: f.get(k) for k in f if k in ("direction", "type", "neighbour_name", "name",
                                                                "evidence")} for f in facts]
        out.append({"id": m["id"], "discipline": m["discipline"], "duplicate": m["duplicate_name"],
                    "canonical": m["canonical_name"], "method": m["method"], "score": m["score"],
                    "context": context})
    return out


def fuzzy_band(store: GraphStore, low: float, only: set[str] | None) -> list[dict[str, Any]]:
    """The fuzzy pairs that score from ``low`` up to the merge threshold: never merged, so never chosen on,
    they show what the spelling rule keeps and refuses among names alike (each labelled ``kept``)."""
    disciplines = sorted({r["discipline"] for r in store.query("discipline_counts", {"discipline": None})
                          if r["element"] == "concepts" and r["count"]})
    out = []
    for d in disciplines:
        if only is not None and d not in only:
            continue
        rows = store.query("merge_candidates_input", {"discipline": d})
        for c in plan_candidates(rows, d, low, spelling=False):
            if c.method == "fuzzy" and c.score < DEFAULT_THRESHOLD:
                out.append({"id": f"{c.duplicate_id}~{c.canonical_id}", "discipline": d, "duplicate": c.duplicate_name,
                            "canonical": c.canonical_name, "score": c.score,
                            "kept": spelled_variants(c.duplicate_name, c.canonical_name)})
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--home", type=Path, required=True, help="PRODA_HOME holding the graph")
    p.add_argument("--graph", default="proda", help="graph name")
    p.add_argument("--benchmark", default="proda", help="benchmark whose items are sampled")
    p.add_argument("--out", type=Path, default=Path("docs/audits"))
    p.add_argument("--items", type=int, default=200)
    p.add_argument("--chains", type=int, default=100)
    p.add_argument("--merges", type=int, default=100)
    p.add_argument("--merge-method", action="append", default=None,
                   help="sample only merges made on this evidence (exact, match_key, fuzzy, embedding; repeatable)")
    p.add_argument("--fuzzy-band", type=float, default=None, metavar="LOW",
                   help="also write every fuzzy pair scoring from LOW up to the merge threshold (fuzzy_band_sample)")
    p.add_argument("--seed", type=int, default=12)
    p.add_argument("--discipline", action="append", default=None,
                   help="sample only these disciplines (repeatable): keep samples to text that may be committed")
    p.add_argument("--prefix", default="", help="prefix of the sample file names (e.g. round2_)")
    p.add_argument("--exclude", type=Path, action="append", default=[],
                   help="a sample file already read (repeatable): its items and composed chains, and other "
                        "benchmarks' items of the same chains, are not drawn again, so a round that checks a change is "
                        "read on chains its rules were not chosen on")
    a = p.parse_args(argv)
    settings = Settings.model_validate({"home": a.home, "graph_name": a.graph})
    a.out.mkdir(parents=True, exist_ok=True)
    with open_store(settings) as store:
        only = set(a.discipline) if a.discipline else None
        read = frozenset(key for path in a.exclude for line in path.read_text(encoding="utf-8").splitlines()
                         if line.strip() for key in (json.loads(line)["id"], json.loads(line).get("chain_id")) if key)
        samples = {"items": items(store, a.benchmark, a.items, random.Random(a.seed), only, read),
                   "composed_chains": composed_chains(store, a.chains, random.Random(a.seed), only, read),
                   "merges": merges(store, a.merges, random.Random(a.seed), only,
                                    set(a.merge_method) if a.merge_method else None)}
        if a.fuzzy_band is not None:
            samples["fuzzy_band"] = fuzzy_band(store, a.fuzzy_band, only)
    for kind, rows in samples.items():
        path = a.out / f"{a.prefix}{kind}_sample.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        print(f"{len(rows)} {kind} -> {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
