"""The extraction stage with an LLM backend end to end: the real ``anthropic`` / ``openai`` SDK
clients talk to the loopback wire server, the answers become graph elements in the real FalkorDB.

Covers what unit tests of the parts cannot: provenance labels the model, an invalid answer ends as
a quarantined chunk (repair + retry happened on the wire), a 429 is waited out, tokens and cost are
accounted in the run directory, a budget stops the run cleanly and a rerun resumes it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proda.pipelines.extract.config import ExtractConfig, default_backend
from proda.pipelines.extract.stage import run_extraction
from proda.schema import Chunk, Document
from proda.schema.store.base import GraphStore
from proda.schema.store.writer import GraphWriter
from tests.llm_wire import WireServer, anthropic_tool_use, openai_completion, recorded

MODEL = "claude-sonnet-4-6"
# contains every evidence span of the recorded answers (tests/fixtures/llm/anthropic_tool_use.json)
TEXT = ("When inflation is high, businesses and individuals need to spend time and effort worrying about "
        "protecting themselves against inflation. Indeed, periods of growing inflation can stagnate economic "
        "growth. However, countries can use monetary policy to prevent inflation from becoming entrenched in "
        "the economy in the medium and long term.")


def corpus(store: GraphStore, n: int) -> list[Chunk]:
    doc = Document(source_id="economics/inflation", discipline="economics", title="Inflation")
    chunks = [Chunk(document_id=doc.id, ordinal=i, discipline="economics", text=f"{TEXT} (Part {i}.)")
              for i in range(n)]
    GraphWriter(store).write([doc, *chunks])
    return chunks


def rate_limited() -> object:
    reply = recorded("anthropic_error_rate_limit")
    reply.headers["retry-after"] = "0"  # the recorded 7 s would only slow the test down
    return reply


def test_anthropic_extraction_quarantines_retries_and_accounts(
        falkordb_store: GraphStore, wire: WireServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
    corpus(falkordb_store, 3)
    invalid = recorded("anthropic_tool_use_invalid")
    wire.script(anthropic_tool_use(),                 # chunk 1: valid
                invalid, invalid, invalid,            # chunk 2: answer, repair, retry: all invalid
                rate_limited(), anthropic_tool_use())  # chunk 3: 429, then valid
    config = ExtractConfig(backend="anthropic", model=MODEL, base_url=wire.url, batch_size=1)
    report = run_extraction(falkordb_store, config, tmp_path)

    [shard] = report.shards
    assert shard.chunks == 3 and shard.stopped is None
    assert shard.quarantined == 1  # the whole answer of chunk 2, with its reason
    assert len(wire.received) == 6
    first = wire.received[0].body
    assert first["model"] == MODEL and first["tool_choice"]["name"] == first["tools"][0]["name"]
    assert "chains" in first["tools"][0]["input_schema"]["properties"]  # the pydantic JSON schema
    repair = wire.received[2].body["messages"][-1]["content"]
    assert "Your previous answer" in repair or "previous" in repair.lower()

    rels = falkordb_store.run("MATCH ()-[r:RELATION]->() RETURN r.type AS type, r.extractor AS extractor, "
                              "r.model AS model, r.evidence AS evidence ORDER BY type")
    assert [r["type"] for r in rels] == ["causes", "decreases", "prevents"]
    assert {(r["extractor"], r["model"]) for r in rels} == {("anthropic", MODEL)}
    assert all(r["evidence"] in TEXT for r in rels)
    [q] = falkordb_store.run("MATCH (q:Quarantine) RETURN q.reason AS reason, q.chunk_id AS chunk_id")
    assert "invalid model output" in q["reason"] and q["chunk_id"]

    stats = json.loads((Path(report.run_dir) / "stats" / "economics.json").read_text())
    assert stats["input_tokens"] >= 2 * 1432 and stats["output_tokens"] >= 2 * 287
    assert stats["cost_usd"] > 0
    assert (Path(report.run_dir) / "completions" / "economics.done").exists()

    # a rerun resumes: nothing is left to send
    again = run_extraction(falkordb_store, config, tmp_path)
    assert again.shards == [] and len(wire.received) == 6


def test_budget_stops_cleanly_and_a_rerun_resumes(
        falkordb_store: GraphStore, wire: WireServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
    corpus(falkordb_store, 3)
    wire.script(anthropic_tool_use())
    # one call costs ~1.7k tokens; the budget lets the first through and stops before the second
    tight = ExtractConfig(backend="anthropic", model=MODEL, base_url=wire.url, batch_size=1, max_tokens=2500,
                          max_output_tokens=512)
    first = run_extraction(falkordb_store, tight, tmp_path)
    [shard] = first.shards
    assert shard.stopped and "budget" in shard.stopped
    assert shard.chunks == 1 and len(wire.received) == 1
    assert not (Path(first.run_dir) / "completions" / "economics.done").exists()

    wire.script(anthropic_tool_use(), anthropic_tool_use())
    second = run_extraction(falkordb_store, ExtractConfig(backend="anthropic", model=MODEL, base_url=wire.url),
                            tmp_path)
    assert [s.chunks for s in second.shards] == [2]  # only what the first run did not finish
    assert len(wire.received) == 3
    done = falkordb_store.run("MATCH (k:Chunk) WHERE k.extracted_with IS NOT NULL RETURN count(k) AS n")
    assert done == [{"n": 3}]


def test_openai_compatible_extraction(falkordb_store: GraphStore, wire: WireServer, tmp_path: Path) -> None:
    """The vLLM path: an OpenAI-compatible server, JSON in the message content."""
    corpus(falkordb_store, 1)
    answer = anthropic_tool_use().body["content"][0]["input"]
    wire.script(openai_completion(json.dumps(answer)))
    config = ExtractConfig(backend="openai", model="qwen2.5-7b-instruct", base_url=f"{wire.url}/v1")
    report = run_extraction(falkordb_store, config, tmp_path)
    assert report.shards[0].elements == {"concept": 5, "relation": 3, "chain": 2}
    assert wire.received[0].path == "/v1/chat/completions"
    assert "response_format" in wire.received[0].body  # guided JSON by schema
    models = falkordb_store.run("MATCH ()-[r:RELATION]->() RETURN DISTINCT r.extractor AS e, r.model AS m")
    assert models == [{"e": "openai", "m": "qwen2.5-7b-instruct"}]


def test_default_backend_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_backend({}) == "dependency"
    monkeypatch.setattr("proda.pipelines.extract.dependency.nlp_available", lambda: False)
    assert default_backend({}) == "heuristic"
    assert default_backend({"ANTHROPIC_API_KEY": "k"}) == "anthropic"
    assert default_backend({"ANTHROPIC_API_KEY": "k", "PRODA_OPENAI_BASE_URL": "http://h/v1"}) == "openai"
