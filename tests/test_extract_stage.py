"""The extraction stage: top-down conversion, quarantine, resume, budgets, on a real FalkorDB.

The extractor here is scripted (fixed answers per chunk) so that the stage's own behaviour is what
is tested; the real extractors have their own tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from proda.errors import BudgetExceeded, InvalidModelOutput
from proda.pipelines.check import structural_report
from proda.pipelines.extract.model import ChunkExtraction, ChunkInput, ExtractedChain, ExtractedStep
from proda.pipelines.extract.stage import ShardRunner, extractor_key
from proda.pipelines.extract.topdown import to_elements
from proda.schema import Chain, Chunk, Concept, Document, Provenance, default_vocabulary
from proda.schema.store.base import GraphStore
from proda.schema.store.writer import GraphWriter
from tests.extract_world import TEXT, corpus
from tests.graphs import covers


def step(s: str, r: str, o: str, ev: str) -> ExtractedStep:
    return ExtractedStep(subject=s, relation=r, object=o, evidence=ev)


GOOD = ExtractedChain(steps=[
    step("interest rates", "decreases", "borrowing", "Higher interest rates reduce borrowing"),
    step("borrowing", "increases", "investment", "Lower borrowing decreases investment"),
    step("investment", "increases", "output", "Investment increases output"),
])


class Scripted:
    """Returns a fixed extraction per chunk ordinal; can fail or stop on demand."""

    name = "scripted"
    model: str | None = None

    def __init__(self, answers: dict[str, ChunkExtraction | Exception], version: str = "v1") -> None:
        self.answers = answers
        self.prompt_version = version
        self.calls: list[str] = []

    def extract(self, chunk: ChunkInput) -> ChunkExtraction:
        self.calls.append(chunk.chunk_id)
        answer = self.answers[chunk.chunk_id]
        if isinstance(answer, Exception):
            raise answer
        return answer


PROV = Provenance(extractor="scripted", prompt_version="v1")


def chunk_input(text: str = TEXT) -> ChunkInput:
    return ChunkInput(chunk_id="chk_x", discipline="economics", text=text)


def test_topdown_builds_a_path_and_harvests_concepts() -> None:
    res = to_elements(ChunkExtraction(chains=[GOOD]), chunk_input(), PROV, default_vocabulary())
    assert res.counts == {"concept": 4, "relation": 3, "chain": 1}
    [chain] = [e for e in res.elements if isinstance(e, Chain)]
    assert chain.relation_types == ["decreases", "increases", "increases"]
    assert not res.quarantined


def test_topdown_quarantines_and_splits() -> None:
    bad = ExtractedChain(steps=[
        step("interest rates", "decreases", "borrowing", "Higher interest rates reduce borrowing"),
        step("borrowing", "teleports", "investment", "Lower borrowing decreases investment"),  # unknown type
        step("investment", "increases", "output", "Investment increases output"),
        step("output", "causes", "happiness", "Output causes lasting happiness everywhere"),  # not in text
        step("Output", "causes", "output ", "Investment increases output"),  # self-loop
    ])
    res = to_elements(ChunkExtraction(chains=[bad]), chunk_input(), PROV, default_vocabulary())
    reasons = sorted(q.reason for q in res.quarantined)
    assert reasons == ["evidence not found in the chunk", "relates 'Output' to itself",
                       "unknown relation type 'teleports'"]
    chains = [e for e in res.elements if isinstance(e, Chain)]
    assert sorted(len(c.relation_ids) for c in chains) == [1, 1]  # split around the bad step


def test_topdown_maps_synonyms_and_breaks_discontinuous_chains() -> None:
    jump = ExtractedChain(steps=[
        step("interest rates", "Leads to", "borrowing", "Higher interest rates reduce borrowing"),
        step("investment", "raises", "output", "Investment increases output"),  # does not continue
    ])
    res = to_elements(ChunkExtraction(chains=[jump]), chunk_input(), PROV, default_vocabulary())
    chains = [e for e in res.elements if isinstance(e, Chain)]
    assert sorted(c.relation_types[0] for c in chains) == ["causes", "increases"]


def test_topdown_resolver_maps_aliases_to_one_concept() -> None:
    res = to_elements(ChunkExtraction(chains=[GOOD]), chunk_input(), PROV, default_vocabulary(),
                      resolve=lambda name, _d: "rate of interest" if name == "interest rates" else name)
    names = {e.name for e in res.elements if isinstance(e, Concept)}
    assert "rate of interest" in names and "interest rates" not in names


def test_shard_extracts_quarantines_and_resumes(falkordb_store: GraphStore, tmp_path: Path) -> None:
    covers("chunks_to_extract", "extraction_queue", "mark_extracted", "upsert_quarantine", "quarantine_counts",
           "extractor_histogram")
    chunks = corpus(falkordb_store)
    bad = ChunkExtraction(chains=[ExtractedChain(steps=[step("a", "teleports", "b", "Investment")])])
    answers: dict[str, ChunkExtraction | Exception] = {
        chunks[0].id: ChunkExtraction(chains=[GOOD]), chunks[1].id: bad,
        chunks[2].id: InvalidModelOutput("not JSON after repair and retry"),
    }
    ex = Scripted(answers)
    stats = ShardRunner(falkordb_store, ex, batch_size=2, run_dir=tmp_path).run("economics")
    # chunk 1: one step quarantined (nothing left: empty); chunk 2: the whole answer quarantined
    assert (stats.chunks, stats.quarantined, stats.empty_chunks) == (3, 2, 1)
    assert stats.elements == {"concept": 4, "relation": 3, "chain": 1}
    assert (tmp_path / "completions" / "economics.done").exists()
    q = {r["reason"]: r["count"] for r in falkordb_store.query("quarantine_counts", {})}
    assert q == {"unknown relation type": 1, "invalid model output": 1}
    [queue] = falkordb_store.query("extraction_queue", {"key": extractor_key(ex)})
    assert (queue["chunks"], queue["pending"]) == (3, 0)
    report = structural_report(falkordb_store)
    [econ] = report.disciplines
    assert econ.extractors == {"scripted": 3} and econ.quarantined == 2
    assert econ.concept_reachability == 1.0 and econ.relation_reachability == 1.0

    again = Scripted(answers)
    assert ShardRunner(falkordb_store, again, run_dir=tmp_path).run("economics").chunks == 0
    assert again.calls == []  # resumed: nothing left to do
    newer = Scripted(answers, version="v2")  # a new prompt version re-extracts everything
    assert ShardRunner(falkordb_store, newer).run("economics").chunks == 3
    counts = {r["element"]: r["count"] for r in falkordb_store.query("discipline_counts", {})}
    assert counts["relations"] == 3 and counts["chains"] == 1  # MERGE: re-extraction duplicated nothing


def test_budget_stop_keeps_work_and_resumes(falkordb_store: GraphStore, tmp_path: Path) -> None:
    chunks = corpus(falkordb_store)
    answers: dict[str, ChunkExtraction | Exception] = {c.id: ChunkExtraction(chains=[GOOD]) for c in chunks}
    answers[chunks[1].id] = BudgetExceeded("max cost 0.01 USD reached")
    stats = ShardRunner(falkordb_store, Scripted(answers), run_dir=tmp_path).run("economics")
    assert stats.stopped is not None and stats.stopped.startswith("budget") and stats.chunks == 1
    assert not (tmp_path / "completions" / "economics.done").exists()
    rows = falkordb_store.query("chunks_to_extract", {"key": "scripted/v1", "discipline": "economics"})
    assert [r["chunk_id"] for r in rows] == [chunks[1].id, chunks[2].id]
    answers[chunks[1].id] = ChunkExtraction(chains=[GOOD])
    resumed = Scripted(answers)
    assert ShardRunner(falkordb_store, resumed, run_dir=tmp_path).run("economics").chunks == 2
    assert resumed.calls == [chunks[1].id, chunks[2].id]


@pytest.mark.parametrize("discipline", ["economics", "biology"])
def test_queue_is_per_discipline(falkordb_store: GraphStore, discipline: str) -> None:
    corpus(falkordb_store)
    rows = falkordb_store.query("chunks_to_extract", {"key": "k", "discipline": discipline})
    assert len(rows) == (3 if discipline == "economics" else 0)


def test_a_chunk_whose_extraction_raises_is_quarantined_and_the_run_goes_on(falkordb_store: GraphStore,
                                                                           tmp_path: Path) -> None:
    """A fault of the extractor on one chunk (any exception) sets that chunk aside with its reason;
    every other chunk and discipline is extracted, and a rerun repeats nothing but that chunk."""
    from proda.pipelines.extract.config import ExtractConfig
    from proda.pipelines.extract.stage import run_extraction

    econ = corpus(falkordb_store)
    bio_doc = Document(source_id="biology/cells", discipline="biology", title="Cells")
    bio = [Chunk(document_id=bio_doc.id, ordinal=i, discipline="biology", text=f"{TEXT} ({i})") for i in range(2)]
    GraphWriter(falkordb_store).write([bio_doc, *bio])
    broken = econ[1].id
    answers: dict[str, ChunkExtraction | Exception] = {c.id: ChunkExtraction(chains=[GOOD]) for c in [*econ, *bio]}
    answers[broken] = IndexError("list index out of range")

    ex = Scripted(answers)
    report = run_extraction(falkordb_store, ExtractConfig(batch_size=1), tmp_path, extractor=ex)
    assert not report.stopped
    stats = {s.discipline: s for s in report.shards}
    assert sorted(stats) == ["biology", "economics"]
    assert (stats["economics"].chunks, stats["economics"].failed_chunks) == (3, 1)
    assert stats["economics"].quarantine_reasons == {"extractor error (IndexError)": 1}
    assert stats["economics"].elements == {"concept": 8, "relation": 6, "chain": 2}  # the two good chunks
    assert stats["biology"].failed_chunks == 0 and stats["biology"].elements["chain"] == 2
    [q] = falkordb_store.run("MATCH (q:Quarantine)-[:FROM_CHUNK]->(k:Chunk) RETURN k.id AS chunk, q.reason AS reason")
    assert q == {"chunk": broken, "reason": "extractor error (IndexError): list index out of range"}
    # only the broken chunk waits for a rerun
    assert [r["chunk_id"] for r in falkordb_store.query("chunks_to_extract", {"key": "scripted/v1",
                                                                              "discipline": None})] == [broken]

    before = {r["element"]: r["count"] for r in falkordb_store.query("discipline_counts", {})}
    again = Scripted(answers)
    rerun = run_extraction(falkordb_store, ExtractConfig(batch_size=1), tmp_path, extractor=again)
    assert again.calls == [broken]
    assert [(s.discipline, s.chunks, s.failed_chunks) for s in rerun.shards] == [("economics", 1, 1)]
    assert {r["element"]: r["count"] for r in falkordb_store.query("discipline_counts", {})} == before
    assert falkordb_store.query("quarantine_counts", {"discipline": None}) == [
        {"discipline": "economics", "reason": "extractor error (IndexError)", "count": 1}]
