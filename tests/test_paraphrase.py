"""Optional LLM paraphrase of benchmark questions (Tester) and training turns (Builder).

The real ``anthropic`` and ``openai`` SDK clients talk to the loopback wire server (recorded
response bodies, answers swapped in); items and examples land in the real FalkorDB. What matters:
a good rewording is used and recorded with its template, a rewording that loses a concept or names
the answer keeps the template and is counted, an invalid answer keeps the template, a budget stops
paraphrasing without losing an item, and a rerun is served from the cache.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from proda.config import LLMSettings
from proda.errors import ConfigError
from proda.pipelines.build import BuildConfig, build_examples
from proda.pipelines.build.export import iter_examples
from proda.pipelines.llm.client import schema_name_of
from proda.pipelines.llm.paraphrase import Rewording, check_rewording, make_paraphraser, occurrences
from proda.pipelines.tester.build import build_benchmark, chain_order
from proda.pipelines.tester.check import check_benchmark
from proda.pipelines.tester.config import BenchConfig
from proda.pipelines.tester.model import BenchmarkItemRecord, instance_hash, item_id
from proda.schema.store.base import GraphStore
from proda.schema.vocabulary import default_vocabulary
from tests.builder_world import TEXT, builder_graph
from tests.console import proda
from tests.llm_wire import Reply, WireServer, anthropic_tool_use, openai_completion
from tests.tester_world import World, economics, load_economics, merge

CLAUDE = "claude-sonnet-4-6"
SERVED = "qwen2.5-7b-instruct"
TEMPLATE = "In economics: price increases X1 and X1 causes X2. Which concept is X2?"


pytestmark = pytest.mark.usefixtures("clean_llm_env")  # no provider setting leaks in from the shell


def claude_says(text: str) -> Reply:
    """The recorded Messages API tool_use answer, calling the paraphrase tool with ``text``."""
    reply = anthropic_tool_use({"text": text})
    reply.body["content"][0]["name"] = schema_name_of(Rewording)
    return reply


def served_says(text: str) -> Reply:
    """The recorded chat.completion whose content is the paraphrase JSON for ``text``."""
    return openai_completion(json.dumps({"text": text}))


NOT_JSON = "Sure! Here is a more natural wording of your question."


def bench_items(store: GraphStore) -> dict[str, BenchmarkItemRecord]:
    return {r["chain_id"]: BenchmarkItemRecord.model_validate_json(r["record"]) for r in store.query("bench_items", {})}


def sent_prompts(wire: WireServer) -> list[str]:
    """The user message of every request the server received (either provider's shape)."""
    return [m["content"] for r in wire.received for m in r.body["messages"] if m["role"] == "user"]


# -- the checks themselves ----------------------------------------------------------------------------


def test_names_are_counted_whole_and_apart_from_longer_names() -> None:
    assert occurrences("price", "Price and price floor", among=["price floor"]) == 1
    assert occurrences("price", "the price-floor", among=[]) == 1  # a hyphen separates words
    assert occurrences("tax", "taxation") == 0
    template = "In economics, what increases price floor?"
    # "price" (the answer) is not named by the template: saying it leaks, even next to "price floor"
    assert check_rewording(template, "Which economic factor raises price floor, like price does?",
                           keep=["price floor"], forbid=[("price", "answer")]) == (False, "leaked_answer")
    assert check_rewording(template, "Which economic factor raises the price floor?",
                           keep=["price floor"], forbid=[("price", "answer")]) == (True, "paraphrased")
    assert check_rewording(template, "Which economic factor raises the floor?",
                           keep=["price floor"], forbid=[("price", "answer")]) == (False, "lost_concept")
    assert check_rewording(template, "in economics,  WHAT increases price floor?", keep=["price floor"]) == (
        False, "unchanged")


def test_configs_validate_the_paraphrase_fields(tmp_path: Path) -> None:
    assert BenchConfig().paraphrase_backend is None and BuildConfig().paraphrase_backend is None  # templates
    with pytest.raises(ConfigError, match="paraphrase_backend 'gemini'"):
        BenchConfig.from_dict({"paraphrase_backend": "gemini"})
    with pytest.raises(ConfigError, match="must not be negative"):
        BuildConfig.from_dict({"paraphrase_backend": "openai", "paraphrase_max_cost": -1})
    assert make_paraphraser(BuildConfig(), tmp_path) is None
    with pytest.raises(ConfigError, match="needs a model"):  # says what to set
        make_paraphraser(BuildConfig(paraphrase_backend="openai"), tmp_path)


# -- Tester -------------------------------------------------------------------------------------------


def test_bench_question_paraphrased_recorded_and_served_from_cache(
        falkordb_store: GraphStore, wire: WireServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
    store = falkordb_store
    w = load_economics(store)
    chain_a = w.chains["A"].id
    reworded = "In economics, price increases some X1, and that X1 in turn causes X2. Which concept is X2?"
    wire.script(claude_says(reworded))
    config = BenchConfig(paraphrase_backend="anthropic", paraphrase_model=CLAUDE, paraphrase_base_url=wire.url)
    report = build_benchmark(store, config, home=tmp_path)

    [shard] = report.shards
    assert report.items == 1 and shard.paraphrase == {"paraphrased": 1}
    rec = bench_items(store)[chain_a]
    assert rec.question == reworded and rec.template == TEMPLATE
    assert rec.paraphrased_by == f"anthropic:{CLAUDE}"
    assert rec.answer == "surplus" and set(rec.choices) == {"surplus", "inflation", "supply", "trade"}  # untouched
    assert rec.qa_hash == instance_hash(reworded, "surplus") != instance_hash(TEMPLATE, "surplus")
    [node] = store.run("MATCH (i:BenchmarkItem {id: $id}) RETURN i.question AS q, i.qa_hash AS h, "
                       "i.paraphrased_by AS by, i.template AS t", {"id": item_id("proda", chain_a)})
    assert node == {"q": reworded, "h": rec.qa_hash, "by": f"anthropic:{CLAUDE}", "t": TEMPLATE}
    assert check_benchmark(store).ok

    # the model saw the stem and the start concept only: never the answer, an option or a hidden concept
    [request] = wire.received
    assert request.body["tools"][0]["name"] == "rewording" and "multiple-choice" in request.body["system"]
    [prompt] = sent_prompts(wire)
    assert TEMPLATE in prompt and '"price"' in prompt
    assert not any(name in prompt for name in ("surplus", "inflation", "trade", "supply"))
    assert report.paraphrase_llm is not None and report.paraphrase_llm["calls"] == 1

    # a rerun asks the same prompt, so the cache answers: nothing is sent and nothing changes
    again = build_benchmark(store, config, home=tmp_path)
    assert len(wire.received) == 1 and again.shards[0].paraphrase == {"paraphrased": 1}
    assert again.paraphrase_llm is not None
    assert (again.paraphrase_llm["calls"], again.paraphrase_llm["cached_hits"]) == (0, 1)
    assert bench_items(store)[chain_a] == rec

    # rebuilt from templates, the item loses every trace of the paraphrase
    build_benchmark(store, BenchConfig(), home=tmp_path)
    plain = bench_items(store)[chain_a]
    assert (plain.question, plain.template, plain.paraphrased_by) == (TEMPLATE, None, None)
    assert plain.qa_hash == instance_hash(TEMPLATE, "surplus")
    assert store.run("MATCH (i:BenchmarkItem) RETURN i.paraphrased_by AS by, i.template AS t") == [
        {"by": None, "t": None}]


def _copies(store: GraphStore, n: int) -> list[tuple[str, World]]:
    """``n`` disjoint copies of the economics world (each gives one item) with their name suffixes, in the
    order the build asks for their items (the seeded chain order)."""
    worlds = []
    for i in range(n):
        w = economics(suffix=f"_{i}").load(store)
        merge(store, w.c[f"excess supply_{i}"], w.c[f"surplus_{i}"])
        worlds.append((f"_{i}", w))
    return sorted(worlds, key=lambda sw: chain_order(0, sw[1].chains["A"].id))


def test_entry_point_settings_reach_the_paraphrasers_not_the_environment(
        falkordb_store: GraphStore, wire: WireServer, tmp_path: Path) -> None:
    # no key in the environment (clean_llm_env): only the settings handed down can authenticate
    llm = LLMSettings(anthropic_api_key="sk-ant-from-settings")
    load_economics(falkordb_store)
    wire.script(claude_says("In economics, price increases some X1, and that X1 in turn causes X2. Which is X2?"))
    config = BenchConfig(paraphrase_backend="anthropic", paraphrase_model=CLAUDE, paraphrase_base_url=wire.url)
    assert build_benchmark(falkordb_store, config, home=tmp_path, llm=llm).shards[0].paraphrase == {"paraphrased": 1}
    sent = wire.received[-1].headers  # x-api-key, or Authorization: Bearer as recent SDKs send it
    assert "sk-ant-from-settings" in (sent.get("x-api-key"), sent.get("authorization", "").removeprefix("Bearer "))
    with pytest.raises(ConfigError, match="key"):  # and without them nothing is read behind the caller's back
        build_benchmark(falkordb_store, BenchConfig(name="other", paraphrase_backend="anthropic",
                                                    paraphrase_model=CLAUDE, paraphrase_base_url=wire.url),
                        home=tmp_path)


def test_rewordings_that_lose_or_leak_and_invalid_answers_keep_the_template(
        falkordb_store: GraphStore, wire: WireServer, tmp_path: Path) -> None:
    store = falkordb_store
    worlds = _copies(store, 4)
    sfx = [suffix for suffix, _ in worlds]
    wire.script(
        served_says("In economics, something increases X1 and X1 causes X2. Which concept is X2?"),
        served_says(f"In economics: price{sfx[1]} increases X1, and X1 causes X2 (it is surplus{sfx[1]}). "
                    "Which concept is X2?"),
        served_says(f"In economics: price{sfx[2]} increases X1, which causes X2, much like trade{sfx[2]}. "
                    "Which concept is X2?"),
        openai_completion(NOT_JSON), openai_completion(NOT_JSON), openai_completion(NOT_JSON))
    config = BenchConfig(paraphrase_backend="openai", paraphrase_model=SERVED, paraphrase_base_url=f"{wire.url}/v1")
    report = build_benchmark(store, config, home=tmp_path)

    expected = {"kept_template: lost_concept": 1, "kept_template: leaked_answer": 1,
                "kept_template: leaked_option": 1, "kept_template: invalid_output": 1}
    assert report.items == 4 and report.shards[0].paraphrase == expected
    assert len(wire.received) == 6  # one each, then answer + repair + retry for the invalid one
    assert "previous answer" in sent_prompts(wire)[4].lower()
    items = bench_items(store)
    for k, w in worlds:
        rec = items[w.chains["A"].id]
        template = TEMPLATE.replace("price", f"price{k}")
        assert (rec.question, rec.paraphrased_by, rec.template) == (template, None, None)
        assert rec.qa_hash == instance_hash(template, f"surplus{k}")
    assert check_benchmark(store).ok

    # same input, same prompt: the rejected (but valid) answers come from the cache and are rejected
    # again; only the invalid answer, which is never cached, is asked for again
    wire.script(openai_completion(NOT_JSON), openai_completion(NOT_JSON), openai_completion(NOT_JSON))
    again = build_benchmark(store, config, home=tmp_path)
    assert again.shards[0].paraphrase == expected and len(wire.received) == 9


# -- Builder ------------------------------------------------------------------------------------------


def _relation(store: GraphStore, relation_id: str) -> dict[str, Any]:
    [row] = store.run("MATCH (s:Concept)-[r:RELATION {id: $id}]->(o:Concept) RETURN s.name AS subject, "
                      "o.name AS object, r.type AS type, r.evidence AS evidence", {"id": relation_id})
    return row


def test_grounded_example_reworded_with_passage_and_evidence_verbatim(
        falkordb_store: GraphStore, wire: WireServer, tmp_path: Path) -> None:
    store = falkordb_store
    builder_graph(store)
    build_examples(store, BuildConfig(families=("grounded",), budget=1))  # learn which example the order picks
    [plain] = list(iter_examples(store, "v1"))
    assert plain["paraphrased_by"] is None and plain["template"] is None
    r = _relation(store, plain["relation_id"])
    subject, obj = r["subject"], r["object"]
    phrase = default_vocabulary().get(r["type"]).phrase
    template_user, template_answer = (m["content"] for m in plain["messages"])
    head, stem = template_user.rsplit("\n\n", 1)
    fact = template_answer.split(" The passage says: ")[0]

    question = f"What does the passage tell us about the way {subject} bears on {obj}?"
    statement = f"In short, {subject} {phrase} {obj}."
    wire.script(served_says(question), served_says(statement))
    config = BuildConfig(families=("grounded",), budget=1, paraphrase_backend="openai", paraphrase_model=SERVED,
                         paraphrase_base_url=f"{wire.url}/v1", paraphrase_answers=True)
    report = build_examples(store, config, home=tmp_path)

    [econ] = report.disciplines
    assert econ.examples == 1 and dict(econ.paraphrase) == {"paraphrased": 1, "answer paraphrased": 1}
    [rec] = list(iter_examples(store, "v1"))
    user, answer = (m["content"] for m in rec["messages"])
    assert rec["id"] == plain["id"]  # the same example, reworded in place
    assert user == f"{head}\n\n{question}"  # the passage is kept verbatim
    assert answer == f"{statement} The passage says: “{r['evidence']}”" and r["evidence"] in TEXT
    assert rec["paraphrased_by"] == f"openai:{SERVED}" and rec["template"] == plain["messages"]
    assert rec["qa_hash"] == instance_hash(user, answer)
    # only the reworded parts were sent: no passage, no quoted evidence
    prompts = sent_prompts(wire)
    assert len(prompts) == 2 and stem in prompts[0] and fact in prompts[1]
    assert not any("Prices carry information" in p or r["evidence"] in p for p in prompts)
    assert store.query("bench_orthogonality", {}) == []

    # rerun: both answers come from the cache
    again = build_examples(store, config, home=tmp_path)
    assert len(wire.received) == 2 and list(iter_examples(store, "v1")) == [rec]
    assert again.paraphrase_llm is not None and again.paraphrase_llm["cached_hits"] == 2


def test_budget_exhausted_mid_run_keeps_every_example(
        falkordb_store: GraphStore, wire: WireServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
    store = falkordb_store
    builder_graph(store)
    # the first call costs about $0.009 (1432 tokens in, 287 out at Sonnet prices); the worst case of the
    # next one would pass $0.01, so the budget stops paraphrase after one request
    wire.script(claude_says("How are these two concepts related?"))  # drops both concept names
    config = BuildConfig(families=("statement",), paraphrase_backend="anthropic", paraphrase_model=CLAUDE,
                         paraphrase_base_url=wire.url, paraphrase_max_cost=0.01)
    report = build_examples(store, config, home=tmp_path)

    [econ] = report.disciplines
    assert econ.examples == 4  # one statement per relation: none lost
    assert dict(econ.paraphrase) == {"kept_template: lost_concept": 1, "kept_template: budget_exhausted": 3}
    assert len(wire.received) == 1
    assert report.paraphrase_llm is not None and report.paraphrase_llm["stopped"].startswith("budget")
    for rec in iter_examples(store, "v1"):
        user, answer = (m["content"] for m in rec["messages"])
        assert rec["paraphrased_by"] is None and rec["template"] is None
        assert "related to" in user or "relationship between" in user or "relates to" in user
        assert rec["qa_hash"] == instance_hash(user, answer)


# -- the command line ---------------------------------------------------------------------------------


def test_bench_build_paraphrase_flags(running_home: Path, cli_graph: str, tmp_path: Path, wire: WireServer) -> None:
    w = economics()
    world = tmp_path / "world.jsonl"
    world.write_text("".join(e.model_dump_json() + "\n" for e in w.elements))
    assert proda("load", str(world), home=running_home, graph=cli_graph).returncode == 0
    reworded = "In economics, price increases X1, and X1 in turn causes X2. What is X2?"
    wire.script(served_says(reworded))
    built = proda("bench", "build", "--json", "--paraphrase-backend", "openai", "--paraphrase-model", SERVED,
                  "--paraphrase-base-url", f"{wire.url}/v1", "--paraphrase-max-cost", "1",
                  home=running_home, graph=cli_graph)
    assert built.returncode == 0, built.stderr
    report = json.loads(built.stdout)
    assert report["items"] == 1 and report["shards"][0]["paraphrase"] == {"paraphrased": 1}
    assert report["paraphrase"]["paraphrased_by"] == f"openai:{SERVED}" and report["paraphrase"]["calls"] == 1
    assert (running_home / "cache" / "llm.sqlite").exists()
    helped = proda("build", "--help", home=running_home)
    assert all(flag in helped.stdout for flag in ("--paraphrase-backend", "--paraphrase-model",
                                                  "--paraphrase-base-url", "--paraphrase-max-cost"))
