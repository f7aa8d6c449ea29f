"""Conformance of the Studio's catalog queries (schema/cypher/studio_*.cypher) on every backend, against
the bundled sample with known answers cross-checked by other catalog queries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proda.schema.store.base import GraphStore
from tests.studio_world import SampleWorld, build_sample_world


@pytest.fixture
def world(store: GraphStore, tmp_path: Path) -> SampleWorld:
    return build_sample_world(store, tmp_path)


def _count(store: GraphStore, element: str) -> int:
    return sum(int(r["count"]) for r in store.query("discipline_counts", {"discipline": None})
               if r["element"] == element)


def test_documents_pages_cover_every_document_once_with_extraction_counts(store: GraphStore,
                                                                         world: SampleWorld) -> None:
    first = store.query("studio_documents", {"skip": 0, "limit": 4})
    rest = store.query("studio_documents", {"skip": 4, "limit": 100})
    ids = [r["id"] for r in first + rest]
    assert len(ids) == len(set(ids)) == _count(store, "documents")
    assert ids == sorted(ids)
    # every ingested chunk was extracted by the heuristic run; the hand-made documents were loaded whole
    assert sum(int(r["chunks"]) for r in first + rest) == _count(store, "chunks")
    assert all(int(r["extracted"]) <= int(r["chunks"]) for r in first + rest)
    assert any(int(r["extracted"]) == int(r["chunks"]) > 0 for r in first + rest)
    none = store.query("studio_documents", {"key": "no/such-key", "skip": 0, "limit": 100})
    assert all(int(r["extracted"]) == 0 for r in none)
    only = store.query("studio_documents", {"discipline": "economics", "skip": 0, "limit": 100})
    assert only and {r["discipline"] for r in only} == {"economics"}


def test_chunks_chunk_and_relation_locate_an_evidence_sentence(store: GraphStore, world: SampleWorld) -> None:
    item = store.query("studio_run_items", {"run_id": world.v1_run_id, "wrong_only": True, "skip": 0, "limit": 10})[0]
    step = next(r for r in store.query("chain_detail", {"id": item["chain_id"]}) if r["relation_id"])
    rel = store.query("studio_relation", {"id": step["relation_id"]})
    # the anchored lookup finds the same edge from either end, and nothing from an unrelated concept
    for end in (rel[0]["subject_id"], rel[0]["object_id"]):
        assert store.query("studio_relation_at", {"id": step["relation_id"], "concept": end}) == rel
    assert store.query("studio_relation_at", {"id": step["relation_id"], "concept": "con_missing"}) == []
    assert len(rel) == 1 and rel[0]["type"] == step["relation_type"] and rel[0]["subject_id"] == step["concept_id"]
    chunk = store.query("studio_chunk", {"id": rel[0]["chunk_id"]})[0]
    assert rel[0]["evidence"] and rel[0]["evidence"].split()[0] in chunk["text"]
    assert chunk["document_id"] and chunk["document_title"]
    chunks = store.query("studio_chunks", {"id": chunk["document_id"], "skip": 0, "limit": 100})
    assert [c["ordinal"] for c in chunks] == sorted(c["ordinal"] for c in chunks)
    assert chunk["id"] in {c["id"] for c in chunks}
    assert sum(int(c["chains"]) for c in chunks) >= 1
    assert store.query("studio_relation", {"id": "rel_missing"}) == []
    assert store.query("studio_chunk", {"id": "chk_missing"}) == []


def test_quarantine_pages_by_discipline_and_reason(store: GraphStore, world: SampleWorld) -> None:
    assert store.query("studio_quarantine", {}) == []
    chunk_id = store.query("studio_chunks", {"id": store.query("studio_documents", {})[0]["id"]})[0]["id"]
    store.query("upsert_quarantine", {"rows": [
        {"id": f"qtn_{i}", "chunk_id": chunk_id, "props": {"discipline": "economics", "reason": f"unknown type 'x{i}'",
                                                            "reason_kind": "unknown type", "payload": "{}",
                                                            "extractor_key": "k"}} for i in range(3)]})
    page = store.query("studio_quarantine", {"reason": "unknown type", "skip": 1, "limit": 5})
    assert [r["id"] for r in page] == ["qtn_1", "qtn_2"] and page[0]["chunk_id"] == chunk_id
    assert store.query("studio_quarantine", {"discipline": "business"}) == []


def test_chain_length_histogram_counts_every_chain(store: GraphStore, world: SampleWorld) -> None:
    rows = store.query("studio_chain_lengths", {"discipline": None})
    assert sum(int(r["chains"]) for r in rows) == _count(store, "chains")
    assert all(int(r["length"]) >= 1 for r in rows) and any(int(r["length"]) > 1 for r in rows)


def test_benchmark_queries_agree_with_bench_items(store: GraphStore, world: SampleWorld) -> None:
    totals = store.query("studio_benchmarks", {})
    items = store.query("bench_items", {"benchmark": "sample"})
    assert sum(int(r["items"]) for r in totals) == len(items) > 0
    page = store.query("studio_bench_page", {"benchmark": "sample", "skip": 0, "limit": 100})
    assert [r["id"] for r in page] == sorted(r["id"] for r in items)
    assert all(json.loads(r["record"])["question"] for r in page)
    tests = store.query("studio_bench_page", {"benchmark": "sample", "split": "test", "skip": 0, "limit": 100})
    assert {r["split"] for r in tests} == {"test"} and len(tests) < len(page)


def test_merges_of_a_concept_and_debugger_queries(store: GraphStore, world: SampleWorld) -> None:
    merge = store.query("merges", {})[0]
    mine = store.query("studio_concept_merges", {"id": merge["canonical_id"]})
    assert merge["id"] in {m["id"] for m in mine}
    assert store.query("studio_concept_merges", {"id": "con_missing"}) == []
    sets = store.query("studio_patch_sets", {"run_id": world.v1_run_id})
    assert {s["name"] for s in sets} == {world.patch_set} and all(int(s["patches"]) > 0 for s in sets)
    assert store.query("studio_patch_sets", {"run_id": world.v0_run_id}) == []
    repairs = store.query("studio_item_repairs", {"item_id": world.failed_item_id, "run_id": world.v1_run_id})
    assert repairs and repairs[0]["kind"] in ("concept_gap", "reasoning_deficit")
    assert any(r["patches"] for r in repairs)
    wrong = store.query("studio_run_items", {"run_id": world.v1_run_id, "wrong_only": True})
    run = store.query("eval_runs", {"run": world.v1_run_id})[0]
    assert len(wrong) == int(run["wrong"]) and all(r["correct"] is False for r in wrong)
    every = store.query("studio_run_items", {"run_id": world.v1_run_id, "wrong_only": False})
    assert len(every) == int(run["items"])
