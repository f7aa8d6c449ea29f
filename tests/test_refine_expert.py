"""The expert through the real ``anthropic`` / ``openai`` SDKs against the loopback wire server, and
``proda refine distill`` end to end: expert answers cached, distilled, filtered, written as training records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proda.errors import ConfigError
from proda.pipelines.llm.anthropic_backend import AnthropicBackend
from proda.pipelines.llm.cache import ResponseCache
from proda.pipelines.llm.client import Backoff, LLMClient
from proda.pipelines.llm.openai_backend import OpenAICompatibleBackend
from proda.pipelines.refine.config import DistillConfig
from proda.pipelines.refine.distill_stage import run_distill
from proda.pipelines.refine.expert import PROMPT_VERSION, Expert
from proda.pipelines.refine.program import parse_program
from tests.llm_wire import Reply, WireServer, anthropic_tool_use, openai_completion, recorded

RAW = ("Home | Courses | Library\n\nDemand is the quantity of a good that buyers are willing to buy. [Ad: Study "
       "smarter]\n\nShare this: Facebook Twitter\n© 2024 StudyHub. All rights reserved.")
CLEANED = "Demand is the quantity of a good that buyers are willing to buy."


def _tool_answer(refined: str) -> Reply:
    reply = anthropic_tool_use({"refined_text": refined})
    reply.body["content"][0]["name"] = "expert_refinement"  # the tool the client forces for this schema
    return reply


pytestmark = pytest.mark.usefixtures("clean_llm_env")  # no provider setting leaks in from the shell


def _expert(wire: WireServer, cache: ResponseCache | None = None) -> Expert:
    backend = AnthropicBackend("claude-sonnet-4-6", api_key="sk-ant-test", base_url=wire.url, timeout_s=5)
    return Expert(LLMClient(backend, cache=cache, limiter=None, budget=None, prompt_version=PROMPT_VERSION,
                            backoff=Backoff(sleep=lambda _s: None)))


def test_anthropic_expert_is_prompted_for_text_and_cached(wire: WireServer, tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "llm.sqlite")
    rate_limited = recorded("anthropic_error_rate_limit")
    rate_limited.headers["retry-after"] = "0"
    wire.script(rate_limited, _tool_answer(CLEANED))
    expert = _expert(wire, cache)
    assert expert.refine(RAW) == CLEANED
    request = wire.received[-1].body
    assert request["tool_choice"]["name"] == "expert_refinement"
    assert "refined_text" in request["tools"][0]["input_schema"]["properties"]
    assert RAW in request["messages"][0]["content"] and "Do not paraphrase" in request["system"]
    # a second expert with the same cache answers without a request
    assert _expert(wire, cache).refine(RAW) == CLEANED
    assert len(wire.received) == 2 and expert.client.accounting.to_dict()["calls"] == 2


def test_openai_compatible_expert(wire: WireServer) -> None:
    """The vLLM path: JSON in the message content, guided by the schema."""
    wire.script(openai_completion(json.dumps({"refined_text": CLEANED})))
    backend = OpenAICompatibleBackend("qwen2.5-7b-instruct", base_url=f"{wire.url}/v1", api_key="x", timeout_s=5)
    expert = Expert(LLMClient(backend, cache=None, limiter=None, budget=None, prompt_version=PROMPT_VERSION))
    assert expert.refine(RAW) == CLEANED
    assert wire.received[0].path == "/v1/chat/completions" and "response_format" in wire.received[0].body


def _write(path: Path, rows: list[dict[str, object] | str]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_distill_run_calls_the_expert_filters_and_writes_training_records(
        wire: WireServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    rewrite = "Buyers' willingness to purchase a product at each price is what economists call demand."
    wire.script(_tool_answer(CLEANED), _tool_answer(rewrite),
                *[recorded("anthropic_tool_use_invalid")] * 3)  # answer, repair, retry: all invalid
    data = _write(tmp_path / "raw.jsonl", [
        {"id": "given", "text": RAW, "refined": CLEANED},  # brings its refinement: no call
        {"id": "asked", "text": RAW},
            {"id": "rewritten", "text": RAW.replace("Library", "Blog")},  # another text: another cache key
        {"id": "garbage", "text": RAW + "\nmore"},
        "{not json",
    ])
    config = DistillConfig(backend="anthropic", model="claude-sonnet-4-6", base_url=wire.url)
    report = run_distill([data], tmp_path / "out", config, tmp_path / "home")
    assert (report.records, report.reliable, report.discarded, report.rejected) == (4, 2, 2, 1)
    assert len(wire.received) == 5 and report.expert_calls == 5 and report.cost_usd > 0
    rows = {r["id"]: r for r in map(json.loads, (tmp_path / "out" / "distilled.jsonl").read_text().splitlines())}
    assert rows["given"]["reliable"] and rows["asked"]["program"] == rows["given"]["program"]
    assert parse_program(rows["asked"]["program"]).edits
    assert "not explained by deletions" in rows["rewritten"]["reason"]
    assert rows["garbage"]["reason"].startswith("expert answer invalid")
    assert report.discard_reasons == {"expert rewrite not explained by deletions": 1,
                                      "expert answer invalid": 1}
    train = [json.loads(x) for x in (tmp_path / "out" / "train.jsonl").read_text().splitlines()]
    assert {t["id"].split("#")[0] for t in train} == {"given", "asked"}
    assert train[0]["completion"][0]["content"] == rows["given"]["program"]
    assert "[3] Demand is the quantity" in train[0]["prompt"][0]["content"]
    rejected = json.loads((tmp_path / "out" / "rejected.jsonl").read_text())
    assert rejected["line"] == 5 and rejected["code"] == "malformed_json"

    # a rerun replays the expert's valid answers from the cache: only the invalid one is asked again
    wire.script(*[recorded("anthropic_tool_use_invalid")] * 3)
    again = run_distill([data], tmp_path / "out", config, tmp_path / "home")
    assert (again.reliable, again.discarded) == (2, 2) and len(wire.received) == 8


def test_records_with_their_refinement_need_no_backend(tmp_path: Path) -> None:
    data = _write(tmp_path / "pairs.jsonl", [{"id": "a", "text": RAW, "refined": CLEANED}])
    report = run_distill([data], tmp_path / "out", DistillConfig(), tmp_path)
    assert report.reliable == 1 and report.expert_calls == 0
    needs_expert = _write(tmp_path / "raw.jsonl", [{"id": "b", "text": RAW}])
    with pytest.raises(ConfigError, match="--backend"):
        run_distill([needs_expert], tmp_path / "out2", DistillConfig(), tmp_path)
