"""Patch sets: targeted repair data for one discipline's diagnoses, mixed with replay.

A patch set of budget N (per discipline) holds ``round(N * replay_ratio)`` replay examples sampled
from the V1 Builder dataset and the rest targeted: split between ``f_refine`` (concept gaps) and
``f_cot`` (reasoning deficits) in proportion to the diagnosis counts. When one kind runs out of
material its share goes to the other; when both run out, replay shrinks with them so the mix keeps
its ratio, and the shortfall is reported. Within a kind the diagnoses take turns, so every diagnosis
is repaired before any gets a second example; an example that repairs several diagnoses is one
patch with several REPAIRS links.

The whole set is written by one statement (``debug_upsert_patch_set``) that ends by marking the
:class:`PatchSet` complete, so there is never a partial set, and a rerun skips a complete one.
Graph shape::

    (:Patch {id, patch_set, set_id, discipline, kind: f_refine|f_cot|replay, family, messages, qa_hash})
    (:Patch)-[:REPAIRS]->(:Diagnosis)      what it repairs (not replay)
    (:Patch)-[:TEACHES]->(:Concept)        the weak concepts, or the scaffold chain's concepts
    (:Patch)-[:FROM_CHAIN]->(:Chain)       f_cot: the train chain it scaffolds (never test/dev)
    (:Patch)-[:FROM_CHUNK]->(:Chunk)       f_refine: the chunk that grounds it
    (:Patch)-[:REPLAYS]->(:TrainingExample) replay: the Builder example it repeats
    (:PatchSet {id, name, discipline, run_id, fingerprint, counts, status: 'complete'})-[:FROM_RUN]->(:EvalRun)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from proda.errors import InputError, PreconditionFailed
from proda.pipelines.build.export import iter_examples
from proda.pipelines.build.templates import RelationFacts
from proda.pipelines.debug.config import PatchConfig
from proda.pipelines.debug.diagnose import DiagnosisRecord, RunInfo
from proda.pipelines.debug.probes import PROBE_VERSION
from proda.pipelines.debug.templates import (
    CONTRARY,
    TEMPLATE_VERSION,
    PatchExample,
    cot_chain,
    fact,
    refine_concept,
    refine_relation,
    replay,
)
from proda.pipelines.tester.chains import ChainView, read_chains
from proda.pipelines.tester.validity import reach_rows, reachable
from proda.schema.store.base import GraphStore
from proda.schema.vocabulary import Vocabulary

KINDS = ("f_refine", "f_cot", "replay")
HASH_BATCH = 10_000
# Within a diagnosis, the families in the order they are taken, per PatchConfig.style: "answer" leads
# with the benchmark's question form answered with a name (the form V1's Builder data has), "explain"
# with passages, statements and step-by-step walks only (the question forms are left out).
REFINE_ORDER = {"answer": ("refine_question", "refine_grounded", "refine_forward", "refine_contrast",
                           "refine_verify", "refine_backward", "refine_concept"),
                "explain": ("refine_grounded", "refine_forward", "refine_contrast", "refine_verify",
                            "refine_backward", "refine_concept")}
COT_ORDER = {"answer": ("cot_answer", "cot_no_shortcut", "cot_walk", "cot_path"),
             "explain": ("cot_no_shortcut", "cot_walk", "cot_path")}


def set_id(patch_set: str, discipline: str) -> str:
    """Id of the patch set ``patch_set`` of ``discipline``."""
    return "pst_" + hashlib.sha256(f"{patch_set}\x1f{discipline}".encode()).hexdigest()[:20]


def patch_id(set_id_: str, ex: PatchExample) -> str:
    """Id of a patch: its set, its kind and its instance (the same text is one patch per set)."""
    return "pat_" + hashlib.sha256(f"{set_id_}\x1f{ex.kind}\x1f{ex.qa_hash}".encode()).hexdigest()[:20]


def fingerprint(config: PatchConfig, run: RunInfo) -> str:
    """What made a patch set: the run, the content-deciding settings and the template versions."""
    spec = {"run": run.id, **config.fingerprint_fields(), "templates": TEMPLATE_VERSION, "probes": PROBE_VERSION}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def plan(budget: int, replay_ratio: float, gaps: int, deficits: int) -> dict[str, int]:
    """Targets per kind: replay is ``round(budget * ratio)`` (at least one targeted example stays), the
    rest split between f_refine and f_cot in proportion to concept gaps and reasoning deficits."""
    replay_n = min(math.floor(budget * replay_ratio + 0.5), budget - 1)
    targeted = budget - replay_n
    total = gaps + deficits
    refine = math.floor(targeted * gaps / total + 0.5) if total else 0
    return {"f_refine": refine, "f_cot": targeted - refine if total else 0, "replay": replay_n}


def fill(targets: dict[str, int], available: dict[str, int], budget: int, replay_ratio: float) -> dict[str, int]:
    """Counts to take given what each kind has: an exhausted targeted kind passes its share to the other;
    replay keeps ``replay_ratio`` of what is actually written (never more than the budget allows)."""
    refine = min(targets["f_refine"], available["f_refine"])
    cot = min(targets["f_cot"], available["f_cot"])
    room = targets["f_refine"] + targets["f_cot"] - refine - cot
    extra = min(room, available["f_refine"] - refine)
    refine += extra
    cot += min(room - extra, available["f_cot"] - cot)
    targeted = refine + cot
    if targeted == targets["f_refine"] + targets["f_cot"]:
        want = targets["replay"]
    else:  # fewer targeted examples than planned: replay shrinks with them
        want = math.floor(targeted * replay_ratio / (1 - replay_ratio) + 0.5) if replay_ratio else 0
    replay_n = max(0, min(want, targets["replay"], budget - targeted, available["replay"]))
    return {"f_refine": refine, "f_cot": cot, "replay": replay_n}


@dataclass
class PatchStats:
    """What the patch step did in one discipline."""

    planned: dict[str, int] = field(default_factory=dict)
    available: dict[str, int] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)
    families: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> candidates or sources dropped
    shortfall: str | None = None

    def skip(self, reason: str, n: int = 1) -> None:
        if n:
            self.skipped[reason] = self.skipped.get(reason, 0) + n


def _order(seed: int, *key: str) -> bytes:
    return hashlib.sha256("\x1f".join((str(seed), *key)).encode()).digest()


def _relations(store: GraphStore, ids: Sequence[str]) -> dict[str, tuple[RelationFacts, str]]:
    """Weak relations by id with their grounding, and the object's canonical id."""
    out = {}
    for r in store.query("debug_weak_relations", {"ids": sorted(set(ids))}):
        facts = RelationFacts(id=r["id"], type=r["type"], subject_id=r["subject_id"], subject=r["subject"] or "",
                              object_id=r["object_id"], object=r["object"] or "", discipline="",
                              evidence=r["evidence"] or "", chunk_id=r["chunk_id"] or "",
                              chunk_text=r["chunk_text"] or "", title=r["title"] or "")
        out[r["id"]] = (facts, r["object_canonical_id"])
    return out


def refine_candidates(store: GraphStore, diagnoses: Sequence[DiagnosisRecord], discipline: str,
                      config: PatchConfig, vocab: Vocabulary, stats: PatchStats) -> dict[str, list[PatchExample]]:
    """f_refine examples per concept-gap diagnosis id, in the order they are taken."""
    gaps = [d for d in diagnoses if d.kind == "concept_gap"]
    if not gaps:
        return {}
    relations = _relations(store, [r for d in gaps for r in d.weak_relations])
    stats.skip("refine: weak relation deleted since the diagnosis",
               len({r for d in gaps for r in d.weak_relations} - set(relations)))
    # the contrary statement is rejected only when the graph does not state it too
    contrary_rows = []
    for rid, (r, canonical) in relations.items():
        t = vocab.get(r.type) if r.type in vocab else None
        if t is not None and r.type in CONTRARY and t.inverse:
            contrary_rows.append(reach_rows(rid, r.subject_id, [t.inverse], [canonical]))
    stated = reachable(store, contrary_rows)
    concept_ids = sorted({c for d in gaps for c in d.weak_concepts})
    facts: dict[str, list[str]] = defaultdict(list)
    names: dict[str, str] = {}
    for row in store.query("debug_concept_facts", {"ids": concept_ids, "per_concept": config.concept_facts}):
        names[row["subject_id"]], names[row["object_id"]] = row["subject"] or "", row["object"] or ""
        if row["type"] in vocab:
            sentence = fact(row["subject"] or "", vocab.get(row["type"]).phrase, row["object"] or "")
            if sentence not in facts[row["concept_id"]]:
                facts[row["concept_id"]].append(sentence)
    out: dict[str, list[PatchExample]] = {}
    for d in gaps:
        made: list[PatchExample] = []
        for rid in d.weak_relations:
            if rid not in relations:
                continue
            r, _ = relations[rid]
            if r.type not in vocab:
                stats.skip("refine: relation type not in the vocabulary")
                continue
            r = dataclasses.replace(r, discipline=discipline)
            made += refine_relation(r, vocab, seed=config.seed, context_chars=config.context_chars,
                                    contrary_stated=bool(stated.get(rid)))
        for cid in d.weak_concepts:
            if len(facts.get(cid, ())) >= 2:
                made.append(refine_concept(cid, names.get(cid, ""), discipline, facts[cid], seed=config.seed))
        order = REFINE_ORDER[config.style]
        made = [e for e in made if e.family in order]
        made.sort(key=lambda e: (order.index(e.family), _order(config.seed, d.id, e.source)))
        out[d.id] = made
    return out


def _contains(seq: Sequence[str], part: Sequence[str]) -> bool:
    n = len(part)
    return any(list(seq[i:i + n]) == list(part) for i in range(len(seq) - n + 1))


def cot_candidates(store: GraphStore, diagnoses: Sequence[DiagnosisRecord], discipline: str, config: PatchConfig,
                   vocab: Vocabulary, stats: PatchStats) -> dict[str, list[PatchExample]]:
    """f_cot scaffolds per reasoning-deficit diagnosis id, from train chains only, in the order taken.

    A train chain qualifies when it is at least ``min_cot_steps`` long, shares a concept or a relation
    type with the failed chain, and does not walk the whole relation sequence of any multi-step test
    or dev chain (it would state a benchmark answer along the benchmark's own path).
    """
    deficits = [d for d in diagnoses if d.kind == "reasoning_deficit"]
    if not deficits:
        return {}
    rows = store.query("debug_chains", {"discipline": discipline})
    held_out = [r["relation_ids"] for r in rows if r["split"] != "train" and len(r["relation_ids"] or []) >= 2]
    train = []
    for r in rows:
        if r["split"] != "train" or len(r["relation_ids"] or []) < config.min_cot_steps:
            continue
        if any(_contains(r["relation_ids"], h) for h in held_out):
            stats.skip("cot: train chain walks a held-out chain")
            continue
        train.append(r)
    ranked: dict[str, list[str]] = {}
    for d in deficits:
        concepts, types = set(d.chain_concepts), set(d.weak_types)
        scored = []
        for r in train:
            shared_c = len(concepts & set(r["concept_ids"] or ()))
            shared_t = len(types & set(r["relation_types"] or ()))
            if shared_c or shared_t:
                scored.append((-shared_c, -shared_t, _order(config.seed, d.id, r["id"]), r["id"]))
        ranked[d.id] = [cid for *_, cid in sorted(scored)[: config.cot_chains]]
    views = read_chains(store, sorted({c for ids in ranked.values() for c in ids}))
    usable: dict[str, ChainView] = {}
    for cid, v in views.items():
        if v.broken is not None:
            stats.skip("cot: train chain broken since extraction")
        elif v.split != "train":  # re-split between the two reads: never scaffold it
            stats.skip("cot: chain no longer train")
        elif any(t not in vocab for t in v.relation_types):
            stats.skip("cot: relation type not in the vocabulary")
        else:
            usable[cid] = v
    out: dict[str, list[PatchExample]] = {}
    for d in deficits:
        made = []
        for rank, cid in enumerate(ranked[d.id]):
            if cid in usable:
                made += [(rank, e) for e in cot_chain(usable[cid], vocab, seed=config.seed,
                                                      operator=d.chosen_operator)]
        order = COT_ORDER[config.style]
        made = [x for x in made if x[1].family in order]
        made.sort(key=lambda x: (order.index(x[1].family), x[0]))
        out[d.id] = [e for _, e in made]
        if not out[d.id]:
            stats.skip("cot: no train chain shares a concept or relation type")
    return out


def _benchmark_hits(store: GraphStore, hashes: Sequence[str]) -> set[str]:
    unique = sorted(set(hashes))
    hits: set[str] = set()
    for start in range(0, len(unique), HASH_BATCH):
        hits |= {r["qa_hash"] for r in store.query("benchmark_hash_hits", {"hashes": unique[start:start + HASH_BATCH]})}
    return hits


@dataclass
class Selected:
    """An example chosen for the set and the diagnoses it repairs."""

    example: PatchExample
    repairs: list[str] = field(default_factory=list)


def take_turns(groups: dict[str, list[PatchExample]], n: int, taken: dict[str, Selected],
               banned: set[str]) -> int:
    """Take up to ``n`` new examples, one diagnosis after another (in id order) until each runs out.

    An example already taken (same instance) only gains a REPAIRS link; one whose hash is ``banned``
    (a benchmark item's) is passed over. Returns how many new examples were taken.
    """
    queues = {k: iter(v) for k, v in sorted(groups.items())}
    added = 0
    while queues and added < n:
        for key in list(queues):
            if added >= n:
                break
            for ex in queues[key]:
                h = ex.qa_hash
                if h in banned:
                    continue
                if h in taken:
                    if key not in taken[h].repairs:
                        taken[h].repairs.append(key)
                    continue
                taken[h] = Selected(ex, [key])
                added += 1
                break
            else:
                del queues[key]
    return added


def _distinct(groups: dict[str, list[PatchExample]], banned: set[str]) -> int:
    return len({e.qa_hash for v in groups.values() for e in v} - banned)


def replay_candidates(store: GraphStore, config: PatchConfig, discipline: str) -> Iterator[PatchExample]:
    """The replay dataset's examples of ``discipline`` in a seeded order."""
    records = list(iter_examples(store, config.replay_dataset, discipline))
    records.sort(key=lambda r: _order(config.seed, "replay", r["id"]))
    for r in records:
        yield replay(r["id"], r.get("family") or "", r["messages"])


def build_patch_set(store: GraphStore, run: RunInfo, discipline: str, diagnoses: Sequence[DiagnosisRecord],
                    config: PatchConfig, vocab: Vocabulary) -> tuple[list[dict[str, Any]], PatchStats]:
    """The rows of one discipline's patch set and what went into it (nothing is written here).

    Raises :class:`InputError` when replay is asked for but the replay dataset has no example in
    ``discipline``, and when no diagnosis yields any patch.
    """
    stats = PatchStats()
    refine = refine_candidates(store, diagnoses, discipline, config, vocab, stats)
    cot = cot_candidates(store, diagnoses, discipline, config, vocab, stats)
    all_hashes = [e.qa_hash for g in (refine, cot) for v in g.values() for e in v]
    banned = _benchmark_hits(store, all_hashes)
    stats.skip("instance-identical to a benchmark item", len(set(all_hashes) & banned))
    gaps = sum(d.kind == "concept_gap" for d in diagnoses)
    targets = plan(config.budget, config.replay_ratio, gaps, len(diagnoses) - gaps)
    stats.planned = dict(targets)
    replays: list[PatchExample] = []
    if targets["replay"]:
        for ex in replay_candidates(store, config, discipline):
            replays.append(ex)
            if len(replays) >= 2 * targets["replay"] + 10:  # room for the few that collide with patches
                break
        if not replays:
            raise InputError(f"replay dataset {config.replay_dataset!r} has no examples in {discipline}: run "
                             f"`proda build --dataset {config.replay_dataset} --discipline {discipline}`, or set "
                             "--replay-ratio 0")
    stats.available = {"f_refine": _distinct(refine, banned), "f_cot": _distinct(cot, banned),
                       "replay": len(replays)}
    counts = fill(targets, stats.available, config.budget, config.replay_ratio)
    if counts["f_refine"] + counts["f_cot"] == 0:
        raise InputError(f"{discipline}: {len(diagnoses)} diagnosis(es) but no patch could be made from them "
                         f"({', '.join(f'{k} {n}' for k, n in sorted(stats.skipped.items())) or 'no material'})")
    taken: dict[str, Selected] = {}
    got = {"f_refine": take_turns(refine, counts["f_refine"], taken, banned),
           "f_cot": take_turns(cot, counts["f_cot"], taken, banned)}
    replay_taken = 0
    for ex in replays:
        if replay_taken >= counts["replay"]:
            break
        if ex.qa_hash in taken or ex.qa_hash in banned:
            continue
        taken[ex.qa_hash] = Selected(ex)
        replay_taken += 1
    got["replay"] = replay_taken
    stats.written = got
    for s in taken.values():
        stats.families[s.example.family] = stats.families.get(s.example.family, 0) + 1
    if sum(got.values()) < config.budget:
        stats.shortfall = (f"{discipline}: budget {config.budget}, made {sum(got.values())} (f_refine "
                           f"{got['f_refine']} of {stats.available['f_refine']} possible, f_cot {got['f_cot']} of "
                           f"{stats.available['f_cot']}, replay {got['replay']})")
    sid = set_id(config.patch_set, discipline)
    rows = [_row(sid, config.patch_set, discipline, run.id, s) for s in taken.values()]
    rows.sort(key=lambda r: r["id"])
    return rows, stats


def _row(sid: str, name: str, discipline: str, run_id: str, s: Selected) -> dict[str, Any]:
    ex = s.example
    return {"id": patch_id(sid, ex), "repairs": sorted(s.repairs), "teaches": list(ex.teaches),
            "chains": list(ex.chains), "chunks": list(ex.chunks), "replays": list(ex.replays),
            "props": {"patch_set": name, "discipline": discipline, "kind": ex.kind, "family": ex.family,
                      "messages": json.dumps(ex.chat, ensure_ascii=False), "qa_hash": ex.qa_hash,
                      "source": ex.source, "run_id": run_id, "template_version": TEMPLATE_VERSION}}


def existing_set(store: GraphStore, name: str, discipline: str) -> dict[str, Any] | None:
    """The complete patch set ``name`` of ``discipline``, if any."""
    rows = [r for r in store.query("debug_patch_sets", {"name": name, "discipline": discipline})
            if r["status"] == "complete"]
    return rows[0] if rows else None


def write_patch_set(store: GraphStore, run: RunInfo, discipline: str, config: PatchConfig,
                    rows: Sequence[dict[str, Any]], stats: PatchStats) -> int:
    """Replace the set's patches with ``rows`` and mark it complete, in one statement; returns the count.

    Raises :class:`PreconditionFailed` if an f_cot row names a chain that is not in the train split now
    (re-split since it was read): the set is then not written at all.
    """
    if not rows:
        raise InputError(f"{discipline}: an empty patch set is never written")
    chains = sorted({c for r in rows for c in r["chains"]})
    if chains:  # the last gate before the graph: a scaffold from a benchmark chain never lands
        views = read_chains(store, chains)
        bad = sorted(c for c in chains if c not in views or views[c].split != "train")
        if bad:
            raise PreconditionFailed(f"{discipline}: f_cot patches would link non-train chain(s) {bad}; refusing "
                                     "to write the set")
    sid = set_id(config.patch_set, discipline)
    props = {"name": config.patch_set, "discipline": discipline, "run_id": run.id, "run_name": run.name,
             "fingerprint": fingerprint(config, run), "budget": config.budget, "replay_ratio": config.replay_ratio,
             "counts": json.dumps(stats.written), "written_at": datetime.now(UTC).isoformat()}
    out = store.query("debug_upsert_patch_set", {"set_id": sid, "run_id": run.id, "set_props": props,
                                                 "rows": list(rows)})
    return int(out[0]["written"]) if out else 0
