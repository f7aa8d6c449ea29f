"""``proda check``: the structural report of the knowledge graph, per discipline.

Reachability is the paper's requirement made measurable (docs/method.md): every L1 concept should lie
on an L2 relation and every L2 relation on an L3 chain. Orphans are allowed but always counted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from proda.schema.store.base import ComponentStats, GraphStore, Row

if TYPE_CHECKING:
    from proda.pipelines.extract.resolve_embed import HubFreeComponents


class DisciplineReport(BaseModel):
    """Structural figures of one discipline."""

    discipline: str
    documents: int = 0
    chunks: int = 0
    concepts: int = 0
    relations: int = 0
    chains: int = 0
    chains_by_origin: dict[str, int] = Field(default_factory=dict, description=(
        "L3 chains per origin: extracted (stated in one chunk) or composed (joined across one document's chunks)"))
    chain_lengths: dict[str, dict[int, int]] = Field(default_factory=dict, description=(
        "chain-length histogram per origin: origin -> relation steps -> chains"))
    uncovered_concepts: int = 0
    uncovered_relations: int = 0
    concept_reachability: float | None = Field(default=None, description="share of concepts on a chain")
    relation_reachability: float | None = Field(default=None, description="share of relations on a chain")
    components: int | None = None
    giant_component_share: float | None = None
    hubs: int | None = Field(default=None, description="hub concepts: a single generic noun, or an outlier degree")
    giant_component_share_without_hubs: float | None = Field(
        default=None, description="giant component share once the hubs are removed: what the hubs hold together")
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
            for origin, n in d.chains_by_origin.items():
                t.chains_by_origin[origin] = t.chains_by_origin.get(origin, 0) + n
            for origin, lengths in d.chain_lengths.items():
                into = t.chain_lengths.setdefault(origin, {})
                for length, n in lengths.items():
                    into[length] = into.get(length, 0) + n
        _fill_shares(t)
        return t


def _chain_origins(rows: list[dict[str, Any]], entry: Callable[[str | None], DisciplineReport]) -> None:
    """Fill chains per origin and the per-origin length histogram from ``compose_chain_lengths`` rows."""
    for r in rows:
        d = entry(r["discipline"])
        origin, n = str(r["origin"]), int(r["chains"])
        d.chains_by_origin[origin] = d.chains_by_origin.get(origin, 0) + n
        lengths = d.chain_lengths.setdefault(origin, {})
        lengths[int(r["length"])] = lengths.get(int(r["length"]), 0) + n


def _fill_shares(d: DisciplineReport) -> None:
    if d.concepts:
        d.concept_reachability = 1 - d.uncovered_concepts / d.concepts
    if d.relations:
        d.relation_reachability = 1 - d.uncovered_relations / d.relations


def structural_report(store: GraphStore, discipline: str | None = None, *, rescan: bool = False,
                      hubs: bool = False) -> CheckReport:
    """The structural report of the graph (or one discipline); returns it, raises the store's errors.

    Each kind of element is read once: relations in one pass (counts and both histograms), nodes
    counted by label, concepts' isolation and coverage from connected components, and relation
    coverage by resolving each distinct step relation id once. ``rescan`` runs the earlier set of
    queries (one scan per figure) instead; both give the same report.

    ``hubs`` adds the hub count and the giant-component share without hubs (a density diagnostic):
    it reads every concept's degree and spread and every adjacency into this process and runs
    union-find here, about two thirds of the check's time on a 1M-element graph, so it is asked for.
    """
    if rescan:
        return _structural_report_rescan(store, discipline, hubs=hubs)
    by: dict[str, DisciplineReport] = {}
    entry = _entries(by)

    p = {"discipline": discipline}
    names = ["check_step_relations", "check_relations", "check_concept_orphans", "check_node_counts",
             "quarantine_counts", "compose_chain_lengths"]
    # independent reads side by side: the longest (step relations) overlaps the rest on the server's readers
    rows, components, hub_free = _read_side_by_side(store, names, discipline, hubs)
    for r in rows["check_node_counts"]:
        setattr(entry(r["discipline"]), r["element"], int(r["count"]))
    covered: dict[str, int] = defaultdict(int)
    missing = 0
    for r in rows["check_step_relations"]:
        covered[entry(r["discipline"]).discipline] += int(r["covered"])
        missing += int(r["missing"])
    for r in rows["check_relations"]:
        d = entry(r["discipline"])
        n = int(r["relations"])
        d.relations += n
        d.relation_types[r["type"]] = d.relation_types.get(r["type"], 0) + n
        name = _extractor_name(r)
        d.extractors[name] = d.extractors.get(name, 0) + n
    for r in rows["check_concept_orphans"]:
        d = entry(r["discipline"])
        if r["kind"] == "isolated_concept":
            d.isolated_concepts = int(r["count"])
        else:
            d.uncovered_concepts = int(r["count"])
    for r in rows["quarantine_counts"]:
        entry(r["discipline"]).quarantined += int(r["count"])
    _chain_origins(rows["compose_chain_lengths"], entry)
    if missing:  # a relation was deleted since its chains were written: find those chains
        for r in store.query("check_broken_chains", p):
            entry(r["discipline"]).broken_chains = int(r["count"])
    for d in by.values():
        if d.relations or d.concepts:
            d.uncovered_relations = d.relations - covered.get(d.discipline, 0)
        d.relation_types = dict(sorted(d.relation_types.items(), key=lambda kv: (-kv[1], kv[0])))
        d.extractors = dict(sorted(d.extractors.items(), key=lambda kv: -kv[1]))
    return _completed(by, components, hub_free)


def _entries(by: dict[str, DisciplineReport]) -> Callable[[str | None], DisciplineReport]:
    """A lookup that makes each discipline's report on first use (rows without one go to "(none)")."""

    def entry(name: str | None) -> DisciplineReport:
        key = name or "(none)"
        return by.setdefault(key, DisciplineReport(discipline=key))

    return entry


def _extractor_name(row: dict[str, Any]) -> str:
    """``extractor`` or ``extractor:model`` of a relation row (``unknown`` when unlabelled)."""
    return (row["extractor"] or "unknown") + (f":{row['model']}" if row["model"] else "")


def _read_side_by_side(store: GraphStore, names: Sequence[str], discipline: str | None, hubs: bool
                       ) -> tuple[dict[str, list[Row]], list[ComponentStats], list[HubFreeComponents]]:
    """The catalog reads ``names``, the components and the hub-free components, run side by side (both
    drivers are thread-safe), so the server's readers overlap them."""
    p = {"discipline": discipline}
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {n: pool.submit(store.query, n, p) for n in names}
        components = pool.submit(store.components, discipline)
        hub_free = pool.submit(_hub_free_components, store, discipline) if hubs else None
        return ({n: f.result() for n, f in futures.items()}, components.result(),
                hub_free.result() if hub_free is not None else [])


def _hub_free_components(store: GraphStore, discipline: str | None) -> list[HubFreeComponents]:
    from proda.pipelines.extract.resolve_embed import components_without_hubs

    return components_without_hubs(store, discipline)


def _completed(by: dict[str, DisciplineReport], components: list[ComponentStats],
               hub_free: Sequence[HubFreeComponents] = ()) -> CheckReport:
    """The report once the counts are in: components per discipline, then every share."""
    entry = _entries(by)
    method = None
    for c in components:
        d = entry(c.discipline)
        d.components, d.giant_component_share, method = c.components, c.giant_share, c.method
    for h in hub_free:
        d = entry(h.discipline)
        d.hubs = h.hubs
        d.giant_component_share_without_hubs = h.without_hubs.giant_share if h.without_hubs else None
    for d in by.values():
        _fill_shares(d)
    return CheckReport(disciplines=[by[k] for k in sorted(by)], components_method=method)


def _structural_report_rescan(store: GraphStore, discipline: str | None = None, *, hubs: bool = False) -> CheckReport:
    """The earlier check: one catalog query per figure, each scanning what it counts."""
    by: dict[str, DisciplineReport] = {}
    entry = _entries(by)

    # The queries are independent reads, run side by side: at 1M elements this takes the check from the
    # sum of the queries towards the slowest one.
    names = ["discipline_counts", "reachability", "orphan_counts", "relation_type_histogram",
             "quarantine_counts", "extractor_histogram", "compose_chain_lengths"]
    rows, components, hub_free = _read_side_by_side(store, names, discipline, hubs)
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
        name = _extractor_name(r)
        entry(r["discipline"]).extractors[name] = int(r["relations"])
    _chain_origins(rows["compose_chain_lengths"], entry)
    return _completed(by, components, hub_free)
