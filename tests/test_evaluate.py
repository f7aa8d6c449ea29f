"""Evaluation on a real FalkorDB with a tiny real causal LM, cross-checked against lm-evaluation-harness.

The model is a 2-layer Llama with random weights and a word-level tokenizer built here (nothing is
downloaded); what is tested is that ProDa scores options exactly as lm-eval does, stores one
answer per item on the graph, resumes, and parses generative answers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proda.errors import ConfigError, InputError, NotFound
from proda.pipelines.tester.export import export
from proda.schema.store import FalkorDBStore, ServerInfo
from proda.schema.store.base import GraphStore
from proda.training.evaluate import EvalConfig, evaluate, summarise
from proda.training.scoring import LoglikelihoodScorer, lettered_prompt, mc_context, parse_answer
from tests.console import proda
from tests.eval_world import benchmark
from tests.graphs import covers
from tests.tiny_lm import tiny_model

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def test_loglikelihood_scoring_matches_a_direct_computation(tmp_path: Path) -> None:
    folder = tiny_model(tmp_path / "tiny")
    model = transformers.AutoModelForCausalLM.from_pretrained(folder)
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    scorer = LoglikelihoodScorer(model, tok, batch_size=3)  # a batch boundary inside the options
    q, choices = "In economics: price causes X1. Which concept is X1?", ["demand", "supply", "tax", "wages"]
    scores = scorer.score(q, choices)
    for choice, ll in zip(choices, scores.loglikelihoods, strict=True):
        ctx = tok(mc_context(q), add_special_tokens=False)["input_ids"]
        whole = tok(mc_context(q) + " " + choice, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([whole])).logits[0], dim=-1)
        direct = sum(float(logp[i - 1, whole[i]]) for i in range(len(ctx), len(whole)))
        assert ll == pytest.approx(direct, abs=1e-4)
    assert scores.normalised == [ll / len(c) for ll, c in zip(scores.loglikelihoods, choices, strict=True)]


def test_evaluate_stores_answers_resumes_and_summarises(falkordb_store: GraphStore, tmp_path: Path) -> None:
    covers("upsert_eval_run", "upsert_eval_answers", "eval_answered", "eval_summary")
    store = falkordb_store
    items = benchmark(store)
    folder = tiny_model(tmp_path / "tiny")
    config = EvalConfig(model=str(folder), benchmark="toy", limit=5)
    first = evaluate(store, config, tmp_path)
    assert first.items == 5 and first.answered_now == 5
    config_all = EvalConfig(model=str(folder), benchmark="toy")
    shown: list[tuple[int, int]] = []
    report = evaluate(store, config_all, tmp_path, progress=lambda *a: shown.append(a))
    assert report.items == 8 and report.answered_now == 3  # resumed: only the missing items
    assert shown == [(5, 8), (6, 8), (7, 8), (8, 8)]  # a progress bar starts where the last run stopped
    answers = store.run("MATCH (:EvalRun {id: $id})-[a:ANSWERED]->(i:BenchmarkItem) RETURN i.id AS item, "
                        "a.chosen AS chosen, a.correct AS correct, a.chosen_operator AS op, a.scores AS scores",
                        {"id": config_all.run_id})
    assert len(answers) == 8
    by_id = {i.id: i for i in items}
    for a in answers:
        item = by_id[a["item"]]
        assert a["correct"] == (a["chosen"] == item.answer_index)
        assert a["op"] == (None if a["correct"] else item.options[a["chosen"]].operator)
        assert len(json.loads(a["scores"])) == 4
    groups = {(g["grouping"], g["key"]): g for g in report.groups}
    assert groups[("discipline", "economics")]["items"] == 8
    assert groups[("chain_length", "2")]["items"] == 8
    wrong = sum(g["items"] for (grouping, _), g in groups.items() if grouping == "wrong_operator")
    assert wrong == 8 - report.correct
    # counts are integers in every dialect (FalkorDB's sum() of integers answers a float; the queries count)
    assert all(type(g[k]) is int for g in report.groups for k in ("items", "correct", "unparseable"))
    [listed] = [r for r in store.query("eval_runs", {}) if r["id"] == config_all.run_id]
    assert type(listed["wrong"]) is int and listed["wrong"] == 8 - report.correct
    totals = store.query("eval_totals", {"run_id": config_all.run_id})[0]
    assert all(type(totals[k]) is int for k in ("items", "correct", "correct_norm", "has_norm", "unparseable"))
    assert summarise(store, config_all.run_id).correct == report.correct
    [run] = store.run("MATCH (r:EvalRun {id: $id}) RETURN r.status AS status, r.n AS n, r.acc AS acc",
                      {"id": config_all.run_id})
    assert run["status"] == "finished" and run["n"] == 8 and run["acc"] == pytest.approx(report.accuracy)


def test_the_eval_command_shows_its_own_progress_and_whole_counts(falkordb_store: FalkorDBStore,
                                                                  falkordb_server: ServerInfo, tmp_path: Path) -> None:
    benchmark(falkordb_store)
    folder = tiny_model(tmp_path / "tiny")
    home = tmp_path / "home"
    home.mkdir()
    url = f"falkordb://:{falkordb_server.password}@127.0.0.1:{falkordb_server.port}"
    done = proda("eval", "--model", str(folder), "--bench", "toy", "--run-name", "cli", home=home,
                 graph=falkordb_store.graph_name, url=url)
    assert done.returncode == 0, done.stderr
    assert "8 items" in done.stdout
    # the model library's own loading bar does not interleave with the command's
    assert "Loading weights" not in done.stdout + done.stderr
    # counts print as counts (the table had "3.000" while FalkorDB summed them as floats)
    assert not [line for line in done.stdout.splitlines() if line.startswith("│") and ".000" in line]


def test_shards_split_the_items_disjointly_and_name_their_runs(falkordb_store: GraphStore, tmp_path: Path) -> None:
    store = falkordb_store
    items = benchmark(store, n_items=12)
    folder = tiny_model(tmp_path / "tiny")
    reports = [evaluate(store, EvalConfig(model=str(folder), benchmark="toy", shard=f"{k}/3"), tmp_path)
               for k in range(3)]
    answered = [{r["item"] for r in store.query("eval_item_answers", {"run_id": rep.run_id})} for rep in reports]
    assert set().union(*answered) == {i.id for i in items}  # every item in exactly one shard
    assert sum(len(a) for a in answered) == len(items) and all(answered)
    assert len({rep.run_id for rep in reports}) == 3
    assert [rep.items for rep in reports] == [len(a) for a in answered]
    for bad in ("3/3", "1", "a/b", "-1/2"):
        with pytest.raises(ConfigError, match="K/N"):
            EvalConfig(benchmark="toy", shard=bad)


def test_accuracy_equals_lm_eval_harness(falkordb_store: GraphStore, tmp_path: Path) -> None:
    """The issue's cross-check, in small: same items, same model, ProDa's acc/acc_norm == lm-eval's."""
    lm_eval = pytest.importorskip("lm_eval")
    store = falkordb_store
    items = benchmark(store, n_items=12)
    folder = tiny_model(tmp_path / "tiny")
    report = evaluate(store, EvalConfig(model=str(folder), benchmark="toy"), tmp_path)
    task_dir = tmp_path / "task"
    export(items, "lm-eval", task_dir)
    from lm_eval.tasks import TaskManager

    task = next(p.stem for p in task_dir.glob("*.yaml"))
    results = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={folder},dtype=float32",
                                      tasks=[task], task_manager=TaskManager(include_path=str(task_dir)),
                                      device="cpu", batch_size=4)
    theirs = results["results"][task]
    assert report.accuracy == pytest.approx(theirs["acc,none"], abs=0.005)
    assert report.accuracy_norm == pytest.approx(theirs["acc_norm,none"], abs=0.005)


def test_generate_mode_parses_and_counts_unparseable(falkordb_store: GraphStore, tmp_path: Path) -> None:
    store = falkordb_store
    items = sorted(benchmark(store, n_items=4), key=lambda i: i.id)  # evaluation goes in id order
    replies = iter(["B", "The answer is (C).", "I am not sure.", items[3].answer])
    config = EvalConfig(model="claude-test", benchmark="toy", mode="generate", backend="anthropic")
    report = evaluate(store, config, tmp_path, answer_fn=lambda prompt: next(replies))
    assert report.items == 4 and report.unparseable == 1
    expected = int(items[0].answer_index == 1) + int(items[1].answer_index == 2) + 1
    assert report.correct == expected
    raw = store.run("MATCH (:EvalRun {id: $id})-[a:ANSWERED]->(i:BenchmarkItem) RETURN i.id AS id, a.raw AS raw, "
                    "a.parsed AS parsed ORDER BY id", {"id": config.run_id})
    assert [r["parsed"] for r in raw] == [True, True, False, True] and raw[2]["raw"] == "I am not sure."


def test_parse_answer_and_prompt() -> None:
    choices = ["demand", "supply", "tax", "price"]
    assert [parse_answer(t, choices) for t in ["B", "b.", "Answer: C", "**D**", "so (A) it is", "tax", "E", "?"]] \
        == [1, 1, 2, 3, 0, 2, None, None]
    assert parse_answer("supply and demand", choices) is None  # two options named: cannot tell
    assert lettered_prompt("Q?", choices).splitlines()[2:6] == ["A. demand", "B. supply", "C. tax", "D. price"]


def test_config_and_missing_benchmark(falkordb_store: GraphStore, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="train chains"):
        EvalConfig(split="train")
    with pytest.raises(ConfigError, match="backend"):
        EvalConfig(mode="generate")
    with pytest.raises(NotFound, match="nope"):
        evaluate(falkordb_store, EvalConfig(benchmark="nope"), tmp_path)


def test_items_whose_chain_was_deleted_are_refused_unless_allowed(falkordb_store: GraphStore,
                                                                   tmp_path: Path) -> None:
    store = falkordb_store
    items = sorted(benchmark(store, n_items=4), key=lambda i: i.id)
    store.run("MATCH (c:Chain {id: $id}) DETACH DELETE c", {"id": items[1].chain_id}, read_only=False)
    with pytest.raises(InputError, match=rf"1 of 4 test items .*{items[1].id}.*--allow-missing-chains"):
        evaluate(store, EvalConfig(benchmark="toy", mode="generate", backend="openai"), tmp_path,
                 answer_fn=lambda prompt: "A")
    assert not store.run("MATCH (r:EvalRun)-[a:ANSWERED]->() RETURN a")  # refused before answering anything
    report = evaluate(store, EvalConfig(benchmark="toy", mode="generate", backend="openai",
                                        allow_missing_chains=True), tmp_path, answer_fn=lambda prompt: "A")
    assert report.items == 4
    lengths = {g["key"]: g["items"] for g in report.groups if g["grouping"] == "chain_length"}
    assert lengths == {"2": 3, "chain gone": 1}


def test_a_served_model_that_times_out_stops_the_run_and_keeps_its_answers(
        falkordb_store: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Generate mode through the real openai SDK against a loopback server: the second question's answer
    comes after the client's timeout, so the run stops with a clear error; the first answer is kept and
    a rerun resumes from the second item."""
    from proda.errors import LLMError
    from tests.llm_wire import WireServer, openai_completion

    monkeypatch.setenv("PRODA_OPENAI_API_KEY", "sk-test")
    store = falkordb_store
    items = sorted(benchmark(store, n_items=3), key=lambda i: i.id)
    config = EvalConfig(model="served-model", benchmark="toy", mode="generate", backend="openai", timeout_s=0.3,
                        max_attempts=1)
    with WireServer() as wire:
        config.base_url = f"{wire.url}/v1"
        wire.script(openai_completion('{"answer": "B"}'), openai_completion('{"answer": "C"}', delay_s=1.5))
        with pytest.raises(LLMError, match=r"served-model: gave up after 1 attempts"):
            evaluate(store, config, tmp_path)
        stored = store.query("eval_answered", {"run_id": config.run_id})
        assert [r["item_id"] for r in stored] == [items[0].id]
        wire.script(openai_completion('{"answer": "C"}'), openai_completion('{"answer": "D"}'))
        report = evaluate(store, config, tmp_path)
    assert report.items == 3 and report.answered_now == 2 and report.unparseable == 0
    chosen = store.run("MATCH (:EvalRun {id: $id})-[a:ANSWERED]->(i:BenchmarkItem) RETURN i.id AS id, "
                       "a.chosen AS chosen ORDER BY id", {"id": config.run_id})
    assert [r["chosen"] for r in chosen] == [1, 2, 3]
