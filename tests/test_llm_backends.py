"""The Anthropic and OpenAI-compatible backends, through the real SDK clients, against a loopback
server that speaks each provider's wire format with recorded responses."""

from __future__ import annotations

import email.utils
import json
import re
import socket
import sys
from typing import Any, cast

import pytest

from proda.errors import ConfigError, DependencyMissing, LLMError
from proda.pipelines.extract.model import extraction_json_schema
from proda.pipelines.llm.anthropic_backend import AnthropicBackend
from proda.pipelines.llm.base import (
    LLMBackend,
    LLMResult,
    MalformedModelOutput,
    TransientLLMError,
    parse_json_object,
    retry_after_seconds,
)
from proda.pipelines.llm.factory import DEFAULT_ANTHROPIC_MODEL, make_backend
from proda.pipelines.llm.openai_backend import OpenAICompatibleBackend, is_openai_platform
from tests.llm_wire import Received, WireServer, anthropic_tool_use, openai_completion, recorded

SYSTEM = "You extract reasoning chains from textbook passages. Use only relation types from the vocabulary."
PROMPT = ("Discipline: economics\nPassage:\nWhen inflation is high, businesses and individuals need to spend time "
          "and effort worrying about protecting themselves against inflation.")
SCHEMA = extraction_json_schema()


pytestmark = pytest.mark.usefixtures("clean_llm_env")  # no provider setting leaks in from the shell


def _anthropic(wire: WireServer, **kwargs: float) -> AnthropicBackend:
    return AnthropicBackend("claude-sonnet-4-6", api_key="sk-ant-test-key", base_url=wire.url,
                            timeout_s=kwargs.get("timeout_s", 5.0))


def _generate(backend: LLMBackend, max_tokens: int = 1024) -> LLMResult:
    return backend.generate_json(system=SYSTEM, prompt=PROMPT, schema=SCHEMA, schema_name="chunk_extraction",
                                 max_tokens=max_tokens)


def _api_key_sent(request: Received) -> str | None:
    """The Anthropic key a request carried: ``x-api-key``, or ``Authorization: Bearer`` as recent SDKs send."""
    if "x-api-key" in request.headers:
        return request.headers["x-api-key"]
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token if scheme == "Bearer" else None


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# -- Anthropic ---------------------------------------------------------------------------------


def test_anthropic_forces_the_schema_tool_and_returns_its_input(wire: WireServer) -> None:
    wire.script(anthropic_tool_use())
    result = _generate(_anthropic(wire))

    expected = recorded("anthropic_tool_use").body["content"][0]["input"]
    assert result.data == expected
    assert (result.usage.input_tokens, result.usage.output_tokens) == (1432, 287)
    assert result.model == "claude-sonnet-4-6" and result.backend == "anthropic" and not result.cached

    (request,) = wire.received
    assert request.method == "POST" and request.path == "/v1/messages"
    assert _api_key_sent(request) == "sk-ant-test-key"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", request.headers["anthropic-version"])
    body = request.body
    assert body["model"] == "claude-sonnet-4-6" and body["max_tokens"] == 1024
    assert body["system"] == SYSTEM
    assert body["messages"] == [{"role": "user", "content": PROMPT}]
    assert [t["name"] for t in body["tools"]] == ["chunk_extraction"]
    assert body["tools"][0]["input_schema"] == SCHEMA
    assert body["tool_choice"] == {"type": "tool", "name": "chunk_extraction"}


@pytest.mark.parametrize(("fixture", "status", "retry_after"), [
    ("anthropic_error_rate_limit", 429, 7.0),
    ("anthropic_error_api", 500, None),
    ("anthropic_error_overloaded", 529, None),
])
def test_anthropic_retryable_statuses_are_transient(wire: WireServer, fixture: str, status: int,
                                                    retry_after: float | None) -> None:
    wire.script(recorded(fixture))
    with pytest.raises(TransientLLMError) as caught:
        _generate(_anthropic(wire))
    assert caught.value.status_code == status
    assert caught.value.retry_after == retry_after
    assert len(wire.received) == 1, "the SDK must not retry on its own (max_retries=0)"


def test_anthropic_authentication_error_is_final(wire: WireServer) -> None:
    wire.script(recorded("anthropic_error_authentication"))
    with pytest.raises(LLMError, match=r"401.*invalid x-api-key") as caught:
        _generate(_anthropic(wire))
    assert not isinstance(caught.value, TransientLLMError)
    assert len(wire.received) == 1


def test_anthropic_timeout_and_refused_connection_are_transient(wire: WireServer) -> None:
    wire.script(anthropic_tool_use(delay_s=1.5))
    with pytest.raises(TransientLLMError, match="timed out"):
        _generate(_anthropic(wire, timeout_s=0.3))

    refused = AnthropicBackend("claude-sonnet-4-6", api_key="k", base_url=f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(TransientLLMError, match="cannot reach"):
        _generate(refused)


def test_anthropic_answer_without_the_tool_call_is_malformed(wire: WireServer) -> None:
    wire.script(recorded("anthropic_text_only"))
    with pytest.raises(MalformedModelOutput, match="did not call the 'chunk_extraction' tool") as caught:
        _generate(_anthropic(wire))
    assert "causal chain" in caught.value.raw
    assert caught.value.usage is not None and caught.value.usage.output_tokens == 14


def test_anthropic_key_comes_from_the_environment(wire: WireServer, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        AnthropicBackend("claude-sonnet-4-6", base_url=wire.url)

    monkeypatch.setenv("PRODA_ANTHROPIC_API_KEY", "sk-ant-from-env")
    wire.script(anthropic_tool_use())
    _generate(AnthropicBackend("claude-sonnet-4-6", base_url=wire.url))
    assert _api_key_sent(wire.received[0]) == "sk-ant-from-env"


def test_missing_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "anthropic", None)  # what `import anthropic` sees when it is absent
    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(DependencyMissing, match=r"proda\[llm\]"):
        AnthropicBackend("claude-sonnet-4-6", api_key="k")
    with pytest.raises(DependencyMissing, match=r"proda\[llm\]"):
        OpenAICompatibleBackend("m", base_url="http://127.0.0.1:1/v1", api_key="k")


# -- OpenAI-compatible -------------------------------------------------------------------------


def test_openai_json_schema_response_format(wire: WireServer) -> None:
    wire.script(openai_completion())
    backend = OpenAICompatibleBackend("gpt-4o-mini", base_url=f"{wire.url}/v1", api_key="sk-test", timeout_s=5)
    result = _generate(backend, max_tokens=900)

    assert result.data == json.loads(recorded("openai_chat_completion").body["choices"][0]["message"]["content"])
    assert (result.usage.input_tokens, result.usage.output_tokens) == (1398, 241)
    assert result.model == "gpt-4o-mini-2024-07-18" and result.backend == "openai"

    (request,) = wire.received
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    body = request.body
    assert body["model"] == "gpt-4o-mini" and body["max_tokens"] == 900
    assert body["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "chunk_extraction", "schema": SCHEMA, "strict": False}}
    assert "guided_json" not in body
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["messages"][0]["content"].startswith(SYSTEM)
    assert body["messages"][1]["content"] == PROMPT


def test_vllm_guided_json_without_key_and_fenced_answer(wire: WireServer) -> None:
    wire.script(recorded("vllm_chat_completion_fenced"))
    backend = OpenAICompatibleBackend("Qwen/Qwen2.5-7B-Instruct", base_url=f"{wire.url}/v1", guided="vllm")
    result = _generate(backend)

    assert [c["steps"][0]["subject"] for c in result.data["chains"]] == ["inflation", "monetary policy"]
    assert result.model == "Qwen/Qwen2.5-7B-Instruct"
    (request,) = wire.received
    assert request.headers["authorization"] == "Bearer EMPTY"  # vLLM without --api-key takes any key
    assert request.body["guided_json"] == SCHEMA
    assert "response_format" not in request.body
    # guided decoding does not show the model the field descriptions: the instructions do
    assert json.dumps(SCHEMA, separators=(",", ":")) in request.body["messages"][0]["content"]


def test_openai_unguided_mode_only_instructs(wire: WireServer) -> None:
    wire.script(openai_completion())
    backend = OpenAICompatibleBackend("local-model", base_url=f"{wire.url}/v1", guided="none")
    _generate(backend)
    body = wire.received[0].body
    assert "response_format" not in body and "guided_json" not in body
    assert '"chains"' in body["messages"][0]["content"]


def test_openai_truncated_answer_is_malformed(wire: WireServer) -> None:
    wire.script(recorded("openai_chat_completion_truncated"))
    backend = OpenAICompatibleBackend("gpt-4o-mini", base_url=f"{wire.url}/v1", api_key="sk-test")
    with pytest.raises(MalformedModelOutput, match=r"not valid JSON.*cut at max_tokens") as caught:
        _generate(backend)
    assert caught.value.raw.startswith('{"chains": [{"steps"')
    assert caught.value.usage is not None and caught.value.usage.output_tokens == 64


@pytest.mark.parametrize(("fixture", "transient", "retry_after"), [
    ("openai_error_rate_limit", True, 7.0),
    ("openai_error_server", True, None),
    ("openai_error_authentication", False, None),
])
def test_openai_errors_are_mapped(wire: WireServer, fixture: str, transient: bool,
                                  retry_after: float | None) -> None:
    wire.script(recorded(fixture))
    backend = OpenAICompatibleBackend("gpt-4o-mini", base_url=f"{wire.url}/v1", api_key="sk-test")
    with pytest.raises(LLMError) as caught:
        _generate(backend)
    assert isinstance(caught.value, TransientLLMError) is transient
    if isinstance(caught.value, TransientLLMError):
        assert caught.value.retry_after == retry_after
    else:
        assert "Incorrect API key" in str(caught.value)
    assert len(wire.received) == 1, "the SDK must not retry on its own (max_retries=0)"


def test_openai_timeout_is_transient(wire: WireServer) -> None:
    wire.script(openai_completion(delay_s=1.5))
    backend = OpenAICompatibleBackend("gpt-4o-mini", base_url=f"{wire.url}/v1", api_key="k", timeout_s=0.3)
    with pytest.raises(TransientLLMError, match="timed out"):
        _generate(backend)


def test_openai_platform_needs_a_key() -> None:
    assert is_openai_platform(None) and is_openai_platform("https://api.openai.com/v1")
    assert not is_openai_platform("http://localhost:8000/v1") and not is_openai_platform("https://notopenai.com")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        OpenAICompatibleBackend("gpt-4o-mini", base_url=None)
    with pytest.raises(ConfigError, match="guided"):
        OpenAICompatibleBackend("m", base_url="http://127.0.0.1:1/v1", guided=cast(Any, "outlines"))


# -- factory -----------------------------------------------------------------------------------


def test_factory_reads_keys_urls_and_models_from_the_environment(wire: WireServer,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        make_backend("anthropic", None, wire.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-env")
    anthropic_backend = make_backend("anthropic", None, wire.url)
    assert anthropic_backend.name == "anthropic" and anthropic_backend.model == DEFAULT_ANTHROPIC_MODEL

    with pytest.raises(ConfigError, match="PRODA_OPENAI_MODEL"):
        make_backend("openai", None, None)
    with pytest.raises(ConfigError, match=r"OPENAI_API_KEY.*PRODA_OPENAI_BASE_URL"):
        make_backend("openai", "gpt-4o-mini", None)

    monkeypatch.setenv("PRODA_OPENAI_BASE_URL", f"{wire.url}/v1")
    monkeypatch.setenv("PRODA_OPENAI_MODEL", "Qwen/Qwen2.5-7B-Instruct")
    monkeypatch.setenv("PRODA_OPENAI_GUIDED", "vllm")
    vllm = make_backend("openai", None, None)
    wire.script(recorded("vllm_chat_completion_fenced"))
    _generate(vllm)
    assert wire.received[0].body["model"] == "Qwen/Qwen2.5-7B-Instruct" and "guided_json" in wire.received[0].body

    monkeypatch.setenv("PRODA_OPENAI_GUIDED", "grammar")
    with pytest.raises(ConfigError, match="PRODA_OPENAI_GUIDED"):
        make_backend("openai", None, None)
    with pytest.raises(ConfigError, match="unknown LLM backend"):
        make_backend(cast(Any, "heuristic"), None, None)


# -- shared helpers ----------------------------------------------------------------------------


def test_retry_after_header_forms() -> None:
    assert retry_after_seconds({"Retry-After": "7"}) == 7.0
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    date = email.utils.formatdate(1_000_030.0, usegmt=True)
    assert retry_after_seconds({"retry-after": date}, now=1_000_000.0) == pytest.approx(30.0)
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({"retry-after": "-3"}) is None
    assert retry_after_seconds({}) is None


def test_json_answers_in_fences_or_prose() -> None:
    assert parse_json_object('```json\n{"chains": []}\n```') == {"chains": []}
    assert parse_json_object('Here you are:\n```\n{"chains": []}\n```\nDone.') == {"chains": []}
    assert parse_json_object('  {"chains": []}  ') == {"chains": []}
    with pytest.raises(MalformedModelOutput, match="not an object"):
        parse_json_object("[1, 2]")
    with pytest.raises(MalformedModelOutput, match="not valid JSON") as caught:
        parse_json_object("Sorry, I cannot help with that.")
    assert caught.value.raw == "Sorry, I cannot help with that."
