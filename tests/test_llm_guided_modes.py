"""How the OpenAI-compatible backend asks a server for schema-shaped JSON, and where its settings come from.

The real ``openai`` SDK talks to the loopback wire server (tests/llm_wire.py). Covered here: the
``json_object`` mode that llama.cpp's server (llama-cpp-python) takes, the hint ProDa gives when a
server refuses the default ``json_schema`` mode, and the LLM settings read once at the entry point
(:class:`proda.config.LLMSettings`) and handed down to the backends, the extraction stage and
``proda extract``.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from proda.cli.context import load_settings
from proda.config import LLMSettings, Settings
from proda.errors import ConfigError, LLMError
from proda.pipelines.build.config import BuildConfig
from proda.pipelines.extract.config import ExtractConfig, default_backend
from proda.pipelines.extract.model import ChunkExtraction, extraction_json_schema
from proda.pipelines.llm.base import TransientLLMError
from proda.pipelines.llm.client import LLMClient
from proda.pipelines.llm.factory import make_backend
from proda.pipelines.llm.openai_backend import OpenAICompatibleBackend, grammar_schema
from proda.pipelines.llm.paraphrase import make_paraphraser
from tests.console import cli_env
from tests.llm_wire import WireServer, openai_completion, recorded

pytestmark = pytest.mark.usefixtures("clean_llm_env")

SYSTEM = "You extract reasoning chains from textbook passages."
PROMPT = "Passage: When inflation is high, businesses worry about protecting themselves against inflation."
SCHEMA = extraction_json_schema()
# What the json_object mode sends: SCHEMA less the upper bounds llama.cpp's grammar compiler cannot take.
STEP, CHAIN = SCHEMA["$defs"]["ExtractedStep"], SCHEMA["$defs"]["ExtractedChain"]
GRAMMAR_SCHEMA = {
    **{k: v for k, v in SCHEMA.items() if k not in ("$defs", "properties")},
    "properties": {"chains": {k: v for k, v in SCHEMA["properties"]["chains"].items() if k != "maxItems"}},
    "$defs": {
        "ExtractedStep": {**STEP, "properties": {name: {k: v for k, v in field.items() if k != "maxLength"}
                                                 for name, field in STEP["properties"].items()}},
        "ExtractedChain": {**CHAIN, "properties": {
            "steps": {k: v for k, v in CHAIN["properties"]["steps"].items() if k != "maxItems"},
            "summary": {k: v for k, v in CHAIN["properties"]["summary"].items() if k != "maxLength"}}},
    },
}
# contains every evidence span of the recorded answer (tests/fixtures/llm/openai_chat_completion.json)
TEXT = ("When inflation is high, businesses and individuals need to spend time and effort worrying about "
        "protecting themselves against inflation. Indeed, periods of growing inflation can stagnate economic "
        "growth. However, countries can use monetary policy to prevent inflation from becoming entrenched in "
        "the economy in the medium and long term.")


def _generate(backend: OpenAICompatibleBackend, max_tokens: int = 512) -> dict[str, object]:
    return backend.generate_json(system=SYSTEM, prompt=PROMPT, schema=SCHEMA, schema_name="chunk_extraction",
                                 max_tokens=max_tokens).data


# -- the json_object mode ----------------------------------------------------------------------


def test_json_object_mode_sends_the_schema_inside_response_format(wire: WireServer) -> None:
    wire.script(openai_completion())
    backend = OpenAICompatibleBackend("smollm2", base_url=f"{wire.url}/v1", guided="json_object")
    data = _generate(backend, max_tokens=300)

    assert data == json.loads(recorded("openai_chat_completion").body["choices"][0]["message"]["content"])
    (request,) = wire.received
    assert request.path == "/v1/chat/completions"
    # llama.cpp's server turns the schema into a grammar but never shows it to the model: the
    # instructions carry it, as in the other guided-decoding mode
    instructions = (f"{SYSTEM}\n\nAnswer with a single JSON object and nothing else. It must follow this JSON "
                    f"schema:\n{json.dumps(SCHEMA, separators=(',', ':'))}")
    assert request.body == {
        "model": "smollm2",
        "messages": [{"role": "system", "content": instructions}, {"role": "user", "content": PROMPT}],
        "response_format": {"type": "json_object", "schema": GRAMMAR_SCHEMA},
        "max_tokens": 300,
    }


def test_grammar_schema_drops_only_upper_bounds() -> None:
    # the bounds are there to drop (else this test proves nothing), and only they go
    assert STEP["properties"]["evidence"]["maxLength"] == 2000 and SCHEMA["properties"]["chains"]["maxItems"] == 32
    assert grammar_schema(SCHEMA) == GRAMMAR_SCHEMA
    assert "maxLength" not in json.dumps(GRAMMAR_SCHEMA) and "maxItems" not in json.dumps(GRAMMAR_SCHEMA)
    assert GRAMMAR_SCHEMA["$defs"]["ExtractedStep"]["properties"]["evidence"]["minLength"] == 1
    # a field that happens to be called like a keyword is a name, not a bound
    named = {"type": "object", "properties": {"maxLength": {"type": "integer", "maximum": 9}}, "maxProperties": 3}
    assert grammar_schema(named) == {"type": "object", "properties": {"maxLength": {"type": "integer", "maximum": 9}}}


def test_json_object_mode_comes_from_the_environment_through_settings(wire: WireServer,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRODA_OPENAI_BASE_URL", f"{wire.url}/v1")
    monkeypatch.setenv("PRODA_OPENAI_MODEL", "smollm2")
    monkeypatch.setenv("PRODA_OPENAI_GUIDED", "json_object")
    settings = Settings()
    assert settings.llm.openai_guided == "json_object"

    wire.script(openai_completion())
    backend = make_backend("openai", None, None, settings=settings.llm)
    assert isinstance(backend, OpenAICompatibleBackend)
    _generate(backend)
    body = wire.received[0].body
    assert body["model"] == "smollm2"
    assert body["response_format"] == {"type": "json_object", "schema": GRAMMAR_SCHEMA}


def test_json_schema_refused_by_a_llamacpp_server_says_which_mode_to_set(wire: WireServer) -> None:
    # the answer llama-cpp-python's server gives to response_format {"type": "json_schema", ...}
    refusal = recorded("llamacpp_error_json_schema")
    assert refusal.status == 500
    wire.script(refusal)
    backend = OpenAICompatibleBackend("smollm2", base_url=f"{wire.url}/v1")
    client = LLMClient(backend, cache=None, limiter=None, budget=None, prompt_version="t")
    with pytest.raises(LLMError, match="PRODA_OPENAI_GUIDED=json_object") as caught:
        client.generate(SYSTEM, PROMPT, ChunkExtraction, max_tokens=64)
    assert not isinstance(caught.value, TransientLLMError)
    assert "'text' or 'json_object'" in str(caught.value)
    assert len(wire.received) == 1, "a server that refuses the format must not be asked again"


def test_other_server_errors_stay_transient_in_json_schema_mode(wire: WireServer) -> None:
    wire.script(recorded("openai_error_server"))
    backend = OpenAICompatibleBackend("m", base_url=f"{wire.url}/v1")
    with pytest.raises(TransientLLMError) as caught:
        _generate(backend)
    assert "PRODA_OPENAI_GUIDED" not in str(caught.value)


def test_an_unknown_guided_mode_names_the_variable_and_the_modes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRODA_OPENAI_GUIDED", "grammar")
    with pytest.raises(ConfigError, match=r"PRODA_OPENAI_GUIDED='grammar': use one of json_schema, json_object, "
                                          r"vllm, none"):
        LLMSettings.from_environment()
    with pytest.raises(ConfigError, match="PRODA_OPENAI_GUIDED='grammar'"):
        load_settings(None)


# -- settings enter at the edge ----------------------------------------------------------------


def test_keys_come_from_proda_variables_then_the_sdk_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    assert LLMSettings().anthropic_key() is None and LLMSettings().openai_key() is None
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-sdk")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-sdk")
    assert (LLMSettings().anthropic_key(), LLMSettings().openai_key()) == ("sk-ant-sdk", "sk-openai-sdk")
    monkeypatch.setenv("PRODA_ANTHROPIC_API_KEY", "sk-ant-proda")
    monkeypatch.setenv("PRODA_OPENAI_API_KEY", "")  # empty counts as unset, as before
    settings = Settings().llm
    assert (settings.anthropic_key(), settings.openai_key()) == ("sk-ant-proda", "sk-openai-sdk")
    assert "sk-ant-proda" not in repr(Settings()) and "sk-openai-sdk" not in repr(Settings())


def test_handed_down_settings_win_over_the_environment(wire: WireServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # a stage given settings must not consult the process environment behind the entry point's back
    monkeypatch.setenv("PRODA_OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("PRODA_OPENAI_MODEL", "from-env")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    settings = LLMSettings(openai_base_url=f"{wire.url}/v1", openai_model="from-settings",
                           openai_api_key="sk-from-settings", openai_guided="vllm")
    wire.script(recorded("vllm_chat_completion_fenced"))
    backend = make_backend("openai", None, None, settings=settings)
    assert isinstance(backend, OpenAICompatibleBackend)
    _generate(backend)
    (request,) = wire.received
    assert request.headers["authorization"] == "Bearer sk-from-settings"
    assert request.body["model"] == "from-settings" and request.body["guided_json"] == SCHEMA

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-env")
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):  # the settings hold no Anthropic key
        make_backend("anthropic", None, wire.url, settings=settings)


def test_default_backend_follows_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # offline, the best installed extractor: the dependency parse when spaCy and its model are there
    assert default_backend(LLMSettings()) == "dependency"
    monkeypatch.setattr("proda.pipelines.extract.dependency.nlp_available", lambda: False)
    assert default_backend(LLMSettings()) == "heuristic"
    assert default_backend(LLMSettings(anthropic_api_key="k")) == "anthropic"
    assert default_backend(LLMSettings(anthropic_api_key="k", openai_base_url="http://h/v1")) == "openai"


def test_extract_config_carries_settings_to_shards_but_not_into_its_record() -> None:
    llm = LLMSettings(openai_base_url="http://h/v1", openai_api_key="sk-secret", openai_guided="json_object")
    config = ExtractConfig(backend="openai", model="m").with_llm(llm)
    assert config.llm_settings is llm
    # what run_extraction writes as config.json, and what a recipe may set: no settings, no key
    assert "sk-secret" not in json.dumps(dataclasses.asdict(config))
    with pytest.raises(ConfigError, match="unknown key"):
        ExtractConfig.from_dict({"backend": "openai", "llm": {"openai_api_key": "x"}})
    shipped = pickle.loads(pickle.dumps(config))  # how a Ray shard receives it
    assert shipped.llm_settings is not None and shipped.llm_settings.openai_key() == "sk-secret"
    assert shipped.llm_settings.openai_guided == "json_object"


def test_paraphrasing_needs_a_home_from_its_caller() -> None:
    with pytest.raises(ConfigError, match="home"):
        make_paraphraser(BuildConfig(paraphrase_backend="openai", paraphrase_model="m"), None,
                         settings=LLMSettings(openai_base_url="http://127.0.0.1:9/v1"))
    assert make_paraphraser(BuildConfig(), None) is None  # no backend named: nothing to cache


# -- proda extract, end to end -----------------------------------------------------------------


def test_proda_extract_uses_the_json_object_mode_from_the_environment(
        wire: WireServer, running_home: Path, cli_graph: str, tmp_path: Path) -> None:
    doc = tmp_path / "inflation.md"
    doc.write_text(f"# Inflation\n\n{TEXT}\n")
    env = {k: v for k, v in cli_env(running_home, cli_graph, None).items()
           if not k.startswith(("OPENAI_", "ANTHROPIC_"))}
    env |= {"PRODA_OPENAI_BASE_URL": f"{wire.url}/v1", "PRODA_OPENAI_MODEL": "smollm2",
            "PRODA_OPENAI_GUIDED": "json_object", "PRODA_OPENAI_API_KEY": "sk-local"}

    def proda(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "proda.cli.main", *args], env=env, capture_output=True,
                              text=True, timeout=120, check=False)

    ingested = proda("ingest", str(doc), "--discipline", "economics", "--json")
    assert ingested.returncode == 0, ingested.stderr
    assert json.loads(ingested.stdout)["chunks_written"] == 1
    wire.script(openai_completion())
    extracted = proda("extract", "--json")  # no --backend: PRODA_OPENAI_BASE_URL selects openai
    assert extracted.returncode == 0, extracted.stderr
    (shard,) = json.loads(extracted.stdout)["shards"]
    assert shard["chunks"] == 1 and shard["quarantined"] == 0 and sum(shard["elements"].values()) > 0

    (request,) = wire.received
    assert request.headers["authorization"] == "Bearer sk-local"
    assert request.body["model"] == "smollm2"
    assert request.body["response_format"] == {"type": "json_object", "schema": GRAMMAR_SCHEMA}
    config = json.loads((Path(json.loads(extracted.stdout)["run_dir"]) / "config.json").read_text())
    assert config["backend"] == "openai" and "sk-local" not in json.dumps(config)
