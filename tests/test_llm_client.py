"""The LLM client's request path (cache, budget, rate limit, retries, validation and repair), driven
through the real SDK clients against a loopback server replaying recorded provider responses.

Nothing here really sleeps: backoff and rate-limit waits go to recorders."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from proda.errors import BudgetExceeded, InvalidModelOutput, LLMError
from proda.pipelines.extract.model import ChunkExtraction
from proda.pipelines.llm.anthropic_backend import AnthropicBackend
from proda.pipelines.llm.base import LLMBackend, LLMResult, TransientLLMError, Usage
from proda.pipelines.llm.cache import ResponseCache, cache_key
from proda.pipelines.llm.client import Backoff, LLMClient, schema_name_of
from proda.pipelines.llm.limits import Budget, Pricing, RateLimiter, estimate_tokens
from proda.pipelines.llm.openai_backend import OpenAICompatibleBackend
from tests.llm_wire import WireServer, anthropic_tool_use, openai_completion, recorded

SYSTEM = "You extract reasoning chains from textbook passages. Use only relation types from the vocabulary."
PROMPT = ("Discipline: economics\nPassage:\nWhen inflation is high, businesses and individuals need to spend time "
          "and effort worrying about protecting themselves against inflation.")
MODEL = "claude-sonnet-4-6"
INVALID_INPUT = recorded("anthropic_tool_use_invalid").body["content"][0]["input"]


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


pytestmark = pytest.mark.usefixtures("clean_llm_env")  # no provider setting leaks in from the shell


@pytest.fixture
def sleeps() -> list[float]:
    """Backoff waits the client asked for (recorded instead of slept)."""
    return []


def _anthropic(wire: WireServer, timeout_s: float = 5.0) -> AnthropicBackend:
    return AnthropicBackend(MODEL, api_key="sk-ant-test-key", base_url=wire.url, timeout_s=timeout_s)


def _openai(wire: WireServer, timeout_s: float = 5.0) -> OpenAICompatibleBackend:
    return OpenAICompatibleBackend("gpt-4o-mini", base_url=f"{wire.url}/v1", api_key="sk-test", timeout_s=timeout_s)


def _client(backend: LLMBackend, sleeps: list[float], *, cache: ResponseCache | None = None,
            limiter: RateLimiter | None = None, budget: Budget | None = None, max_attempts: int = 5,
            prompt_version: str = "extract-v1") -> LLMClient:
    return LLMClient(backend, cache=cache, limiter=limiter, budget=budget, prompt_version=prompt_version,
                     max_attempts=max_attempts, backoff=Backoff(sleep=sleeps.append))


def _user_text(wire: WireServer, index: int) -> str:
    """The user turn of the ``index``-th request the server received, in either wire format."""
    messages = wire.received[index].body["messages"]
    content: str = next(m["content"] for m in messages if m["role"] == "user")
    return content


# -- success, cost and cache -------------------------------------------------------------------


def test_valid_answer_is_parsed_costed_and_cached(wire: WireServer, sleeps: list[float], tmp_path: Path) -> None:
    wire.script(anthropic_tool_use())
    cache = ResponseCache(tmp_path / "llm.sqlite")
    client = _client(_anthropic(wire), sleeps, cache=cache)

    extraction, result = client.generate(SYSTEM, PROMPT, ChunkExtraction, max_tokens=1024)
    assert isinstance(extraction, ChunkExtraction)
    assert [step.relation for step in extraction.chains[0].steps] == ["causes", "decreases"]
    assert not result.cached
    assert wire.received[0].body["tools"][0]["name"] == schema_name_of(ChunkExtraction) == "chunk_extraction"

    again, hit = client.generate(SYSTEM, PROMPT, ChunkExtraction, max_tokens=1024)
    assert again == extraction and hit.cached
    assert len(wire.received) == 1, "the second identical call must be answered by the cache"

    totals = client.accounting.to_dict()
    assert totals["calls"] == 1 and totals["cached_hits"] == 1 and totals["failures"] == 0
    assert (totals["input_tokens"], totals["output_tokens"]) == (1432, 287)
    assert totals["cost_usd"] == pytest.approx((1432 * 3.0 + 287 * 15.0) / 1e6)  # Sonnet: $3 in, $15 out
    json.dumps(totals)  # serialisable as the run's stats

    # A new cache instance on the same file (a resumed run, another process) still has the answer.
    cache.close()
    reopened = _client(_anthropic(wire), sleeps, cache=ResponseCache(tmp_path / "llm.sqlite"))
    _, persisted = reopened.generate(SYSTEM, PROMPT, ChunkExtraction, max_tokens=1024)
    assert persisted.cached and len(wire.received) == 1
    # ...but not for another prompt version: a changed template must not reuse old answers.
    wire.script(anthropic_tool_use())
    other = _client(_anthropic(wire), sleeps, cache=ResponseCache(tmp_path / "llm.sqlite"), prompt_version="v2")
    _, fresh = other.generate(SYSTEM, PROMPT, ChunkExtraction, max_tokens=1024)
    assert not fresh.cached and len(wire.received) == 2


def test_cache_is_shared_by_concurrent_writers(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    result = LLMResult(data={"chains": []}, usage=Usage(input_tokens=10, output_tokens=2), model=MODEL,
                       backend="anthropic")

    def write(worker: int) -> None:
        with ResponseCache(path, timeout_s=10) as own:  # one connection each, as separate processes have
            for i in range(25):
                own.put(f"{worker}-{i}", result)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with ResponseCache(path) as reader:
        assert len(reader) == 100
        stored = reader.get("3-24")
        assert stored is not None and stored.cached and stored.data == {"chains": []}
        assert reader.get("missing") is None
    assert cache_key("anthropic", MODEL, "v1", "s", "p", {}) != cache_key("anthropic", MODEL, "v2", "s", "p", {})
    assert cache_key("anthropic", MODEL, "v1", "s", "p", {}) != cache_key("openai", MODEL, "v1", "s", "p", {})


# -- retries -----------------------------------------------------------------------------------


def test_rate_limited_call_waits_as_told_then_succeeds(wire: WireServer, sleeps: list[float]) -> None:
    wire.script(recorded("anthropic_error_rate_limit"), anthropic_tool_use())
    client = _client(_anthropic(wire), sleeps)
    extraction, _ = client.generate(SYSTEM, PROMPT, ChunkExtraction)
    assert len(extraction.chains) == 2
    assert len(wire.received) == 2
    assert sleeps == [7.0], "retry-after: 7 must be honoured"
    assert client.accounting.retries == 1 and client.accounting.calls == 2


def test_server_error_is_retried_with_backoff(wire: WireServer, sleeps: list[float]) -> None:
    wire.script(recorded("openai_error_server"), openai_completion())
    client = _client(_openai(wire), sleeps)
    extraction, result = client.generate(SYSTEM, PROMPT, ChunkExtraction)
    assert len(extraction.chains) == 2 and result.backend == "openai"
    assert len(wire.received) == 2
    assert len(sleeps) == 1 and 1.0 <= sleeps[0] <= 2.0  # first backoff: 1 s plus up to 1 s of jitter
    assert client.accounting.retries == 1


def test_timeout_is_retried_then_exhausted_attempts_raise(wire: WireServer, sleeps: list[float]) -> None:
    wire.script(openai_completion(delay_s=1.5), openai_completion())
    client = _client(_openai(wire, timeout_s=0.3), sleeps, max_attempts=2)
    extraction, _ = client.generate(SYSTEM, PROMPT, ChunkExtraction)
    assert len(extraction.chains) == 2 and len(wire.received) == 2 and client.accounting.retries == 1

    wire.script(openai_completion(delay_s=1.5), openai_completion(delay_s=1.5))
    with pytest.raises(LLMError, match=r"gave up after 2 attempts.*timed out") as caught:
        client.generate(SYSTEM, PROMPT + " (another passage)", ChunkExtraction)
    assert not isinstance(caught.value, TransientLLMError), "exhausted retries are final"
    assert len(wire.received) == 4 and client.accounting.failures == 1


def test_exhausted_retries_on_overload(wire: WireServer, sleeps: list[float]) -> None:
    wire.script(*[recorded("anthropic_error_overloaded")] * 3)
    client = _client(_anthropic(wire), sleeps, max_attempts=3)
    with pytest.raises(LLMError, match=r"gave up after 3 attempts.*529"):
        client.generate(SYSTEM, PROMPT, ChunkExtraction)
    assert len(wire.received) == 3 and len(sleeps) == 2
    assert sleeps[1] >= 2.0  # exponential: the second wait starts at 2 s


def test_authentication_error_is_not_retried(wire: WireServer, sleeps: list[float]) -> None:
    wire.script(recorded("anthropic_error_authentication"), anthropic_tool_use())
    client = _client(_anthropic(wire), sleeps)
    with pytest.raises(LLMError, match="401") as caught:
        client.generate(SYSTEM, PROMPT, ChunkExtraction)
    assert not isinstance(caught.value, TransientLLMError)
    assert len(wire.received) == 1 and wire.pending == 1 and sleeps == []
    assert client.accounting.failures == 1


# -- validation and repair ---------------------------------------------------------------------


def test_schema_violation_is_repaired(wire: WireServer, sleeps: list[float], tmp_path: Path) -> None:
    wire.script(anthropic_tool_use(INVALID_INPUT), anthropic_tool_use())
    cache = ResponseCache(tmp_path / "llm.sqlite")
    client = _client(_anthropic(wire), sleeps, cache=cache)
    extraction, result = client.generate(SYSTEM, PROMPT, ChunkExtraction)

    assert len(extraction.chains) == 2 and len(wire.received) == 2
    repair = _user_text(wire, 1)
    assert repair.startswith(PROMPT)
    assert "chains.0.steps.0.evidence: Field required" in repair  # the validation error, located
    assert "chains.0.steps.1.subject: String should have at least 1 character" in repair
    assert json.dumps(INVALID_INPUT, ensure_ascii=False) in repair  # the previous answer
    assert client.accounting.repairs == 1 and client.accounting.invalid_outputs == 1
    # the repaired answer is what the original request now maps to
    cached = cache.get(cache_key("anthropic", MODEL, "extract-v1", SYSTEM, PROMPT,
                                 ChunkExtraction.model_json_schema()))
    assert cached is not None and cached.data == result.data


def test_malformed_json_is_repaired(wire: WireServer, sleeps: list[float]) -> None:
    truncated = recorded("openai_chat_completion_truncated")
    wire.script(truncated, openai_completion())
    client = _client(_openai(wire), sleeps)
    extraction, _ = client.generate(SYSTEM, PROMPT, ChunkExtraction)

    assert len(extraction.chains) == 2 and len(wire.received) == 2
    repair = _user_text(wire, 1)
    assert "not valid JSON" in repair and "cut at max_tokens" in repair
    assert truncated.body["choices"][0]["message"]["content"] in repair
    # answers that fail are still billed: both calls' tokens are counted
    assert client.accounting.input_tokens == 1398 * 2 and client.accounting.output_tokens == 64 + 241


def test_still_invalid_after_repair_and_retry_raises_and_caches_nothing(wire: WireServer, sleeps: list[float],
                                                                        tmp_path: Path) -> None:
    wire.script(anthropic_tool_use(INVALID_INPUT), anthropic_tool_use(INVALID_INPUT),
                anthropic_tool_use(INVALID_INPUT))
    cache = ResponseCache(tmp_path / "llm.sqlite")
    client = _client(_anthropic(wire), sleeps, cache=cache)
    with pytest.raises(InvalidModelOutput, match=r"after one repair and one retry.*evidence: Field required"):
        client.generate(SYSTEM, PROMPT, ChunkExtraction)

    assert len(wire.received) == 3
    assert _user_text(wire, 0) == PROMPT and _user_text(wire, 2) == PROMPT  # the third is a fresh retry
    assert _user_text(wire, 1) != PROMPT
    assert len(cache) == 0
    assert client.accounting.failures == 1 and client.accounting.invalid_outputs == 3

    # nothing invalid was cached: the same request goes to the model again
    wire.script(anthropic_tool_use())
    _, result = client.generate(SYSTEM, PROMPT, ChunkExtraction)
    assert not result.cached and len(wire.received) == 4 and len(cache) == 1


# -- rate limits, budgets, estimates -----------------------------------------------------------


def test_rate_limiter_blocks_the_third_request_within_a_minute() -> None:
    clock = FakeClock()
    limiter = RateLimiter(requests_per_minute=2, tokens_per_minute=None, clock=clock, sleep=clock.sleep)
    limiter.acquire(100)
    clock.now = 10.0
    limiter.acquire(100)
    assert clock.sleeps == []
    limiter.acquire(100)
    assert clock.sleeps == [50.0], "the first request leaves the 60 s window at t=60"
    clock.now = 75.0
    limiter.acquire(100)  # the t=10 request has left the window
    assert clock.sleeps == [50.0]


def test_token_limit_counts_actual_usage() -> None:
    clock = FakeClock()
    limiter = RateLimiter(requests_per_minute=None, tokens_per_minute=10_000, clock=clock, sleep=clock.sleep)
    first = limiter.acquire(6_000)
    limiter.settle(first, 1_000)  # the call used far less than estimated
    clock.now = 10.0
    limiter.acquire(6_000)  # 1,000 + 6,000 fit
    assert clock.sleeps == []
    clock.now = 20.0
    limiter.acquire(6_000)  # 7,000 + 6,000 do not: wait for the t=10 call to leave the window
    assert clock.sleeps == [50.0]


def test_client_goes_through_the_rate_limiter(wire: WireServer, sleeps: list[float]) -> None:
    clock = FakeClock()
    limiter = RateLimiter(requests_per_minute=2, tokens_per_minute=None, clock=clock, sleep=clock.sleep)
    wire.script(anthropic_tool_use(), anthropic_tool_use(), anthropic_tool_use())
    client = _client(_anthropic(wire), sleeps, limiter=limiter)
    for i in range(3):
        client.generate(SYSTEM, f"{PROMPT} ({i})", ChunkExtraction)
    assert len(wire.received) == 3
    assert clock.sleeps == [60.0]


def test_budget_stops_before_a_call_that_could_exceed_it(wire: WireServer, sleeps: list[float]) -> None:
    # Worst case of one call: 2,048 output tokens at $15/M = $0.031 > $0.01.
    client = _client(_anthropic(wire), sleeps, budget=Budget(max_cost_usd=0.01, max_tokens=None))
    with pytest.raises(BudgetExceeded, match="cost budget"):
        client.generate(SYSTEM, PROMPT, ChunkExtraction, max_tokens=2048)
    assert wire.received == []


def test_token_budget_counts_what_was_used(wire: WireServer, sleeps: list[float]) -> None:
    probe = _client(_anthropic(wire), sleeps)
    worst = probe.estimate([(SYSTEM, PROMPT)], 1024, output_model=ChunkExtraction)["input_tokens"] + 1024
    # Room for one worst-case call, but not for a second after the first used 1,432 + 287 tokens.
    budget = Budget(max_cost_usd=None, max_tokens=worst + 1000)
    wire.script(anthropic_tool_use(), anthropic_tool_use())
    client = _client(_anthropic(wire), sleeps, budget=budget)
    client.generate(SYSTEM, PROMPT, ChunkExtraction, max_tokens=1024)
    assert budget.spent_tokens == 1432 + 287
    with pytest.raises(BudgetExceeded, match="token budget"):
        client.generate(SYSTEM, PROMPT + ".", ChunkExtraction, max_tokens=1024)
    assert len(wire.received) == 1 and wire.pending == 1


def test_estimate_sends_nothing(wire: WireServer, sleeps: list[float], tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "llm.sqlite")
    client = _client(_anthropic(wire), sleeps, cache=cache)
    pairs = [(SYSTEM, f"{PROMPT} ({i})") for i in range(3)]
    plan = client.estimate(pairs, 1000)
    assert wire.received == []
    assert plan["calls"] == 3 and plan["worst_case_output_tokens"] == 3000
    assert plan["input_tokens"] == sum(estimate_tokens(s) + estimate_tokens(p) for s, p in pairs)
    assert plan["est_cost_usd"] == pytest.approx(Pricing().cost(plan["input_tokens"], 3000, MODEL), abs=1e-6)

    # With the output model, the schema counts and answers already cached are left out.
    wire.script(anthropic_tool_use())
    client.generate(SYSTEM, pairs[0][1], ChunkExtraction, max_tokens=1000)
    planned = client.estimate(pairs, 1000, output_model=ChunkExtraction)
    assert (planned["calls"], planned["cached"]) == (2, 1)
    assert planned["input_tokens"] > plan["input_tokens"] * 2 / 3
    assert len(wire.received) == 1


def test_pricing_matches_longest_prefix_and_local_models_are_free() -> None:
    pricing = Pricing()
    assert pricing.price("gpt-4o-mini-2024-07-18").input_per_mtok == 0.15
    assert pricing.price("gpt-4o-2024-08-06").input_per_mtok == 2.5
    assert pricing.price("claude-opus-4-1-20250805").output_per_mtok == 75.0
    assert pricing.price("claude-opus-4-5-20251101").output_per_mtok == 25.0
    assert pricing.price("claude-someday-9").output_per_mtok == 75.0  # unknown Claude: priced high, to be safe
    assert pricing.cost(1_000_000, 1_000_000, "Qwen/Qwen2.5-7B-Instruct") == 0.0
    local = pricing.with_price("Qwen/", 0.2, 0.6)
    assert local.cost(1_000_000, 1_000_000, "Qwen/Qwen2.5-7B-Instruct") == pytest.approx(0.8)
    assert estimate_tokens("x" * 10) == 3 and estimate_tokens("") == 0
