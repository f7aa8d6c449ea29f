"""``proda check``: the structural report of the knowledge graph, per discipline.

Reachability is the paper's requirement made measurable (docs/method.md): every L1 concept should lie
on an L2 relation and every L2 relation on an L3 chain. Orphans are allowed but always counted.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

from pydantic import BaseModel, Field

from proda.schema.store.base import GraphStore


class DisciplineReport(BaseModel):
    """Structural figures of one discipline."""

    discipline: str
    documents: int = 0
    chunks: int = 0
    concepts: int = 0
    relations: int = 0
    chains: int = 0
    uncovered_concepts: int = 0
    uncovered_relations: int = 0
    concept_reachability: float | None = Field(default=None, description="share of concepts on a chain")
    relation_reachability: float | None = Field(default=None, description="share of relations on a chain")
    components: int | None = None
    giant_component_share: float | None = None
    isolated_concepts: int = 0
    broken_chains: int = 0
    relation_types: dict[str, int] = Field(default_factory=dict)
    quarantined: int = 0
    extractors: dict[str, int] = Field(default_factory=dict, description="relations per extractor[:model]")


class CheckReport(BaseModel):
    """The structural report: one entry per discipline plus the method used for components."""

    disciplines: list[DisciplineReport]
    components_method: str | None = None

    def total(self) -> DisciplineReport:
        """All disciplines summed (reachability recomputed from the sums)."""
        t = DisciplineReport(discipline="(all)")
        for d in self.disciplines:
            for f in ("documents", "chunks", "concepts", "relations", "chains", "uncovered_concepts",
                      "uncovered_relations", "isolated_concepts", "broken_chains"):
                setattr(t, f, getattr(t, f) + getattr(d, f))
            t.quarantined += d.quarantined
            for k, v in d.relation_types.items():
                t.relation_types[k] = t.relation_types.get(k, 0) + v
            for k, v in d.extractors.items():
                t.extractors[k] = t.extractors.get(k, 0) + v
        _fill_shares(t)
        return t


def _fill_shares(d: DisciplineReport) -> None:
    if d.concepts:
        d.concept_reachability = 1 - d.uncovered_concepts / d.concepts
    if d.relations:
        d.relation_reachability = 1 - d.uncovered_relations / d.relations


def structural_report(store: GraphStore, discipline: str | None = None) -> CheckReport:
    """Run the catalog's counting, reachability, component and orphan queries; returns the report."""
    by: dict[str, DisciplineReport] = defaultdict(lambda: DisciplineReport(discipline=""))

    def entry(name: str | None) -> DisciplineReport:
        key = name or "(none)"
        d = by[key]
        d.discipline = key
        return d

    p = {"discipline": discipline}
    # The queries are independent reads: run them side by side so the server's reader threads
    # overlap them (at 1M elements this takes the check from the sum of the queries towards the
    # slowest one). Both drivers are thread-safe (connection pools).
    names = ["discipline_counts", "reachability", "orphan_counts", "relation_type_histogram",
             "quarantine_counts", "extractor_histogram"]
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {n: pool.submit(store.query, n, p) for n in names}
        components = pool.submit(store.components, discipline)
        rows = {n: f.result() for n, f in futures.items()}
    for r in rows["discipline_counts"]:
        setattr(entry(r["discipline"]), r["element"], int(r["count"]))
    for r in rows["reachability"]:
        d = entry(r["discipline"])
        setattr(d, f"uncovered_{r['element']}s", int(r["uncovered"]))
    for r in rows["orphan_counts"]:
        d = entry(r["discipline"])
        setattr(d, "isolated_concepts" if r["kind"] == "isolated_concept" else "broken_chains", int(r["count"]))
    for r in rows["relation_type_histogram"]:
        entry(r["discipline"]).relation_types[r["type"]] = int(r["relations"])
    for r in rows["quarantine_counts"]:
        entry(r["discipline"]).quarantined += int(r["count"])
    for r in rows["extractor_histogram"]:
        name = (r["extractor"] or "unknown") + (f":{r['model']}" if r["model"] else "")
        entry(r["discipline"]).extractors[name] = int(r["relations"])
    method = None
    for c in components.result():
        d = entry(c.discipline)
        d.components, d.giant_component_share, method = c.components, c.giant_share, c.method
    for d in by.values():
        _fill_shares(d)
    return CheckReport(disciplines=[by[k] for k in sorted(by)], components_method=method)
