"""Patch sets on a real FalkorDB: f_refine and f_cot, budget and replay, orthogonality, resume, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proda.errors import ConfigError, InputError, NotFound
from proda.pipelines.debug import PatchConfig, PatchReport, export_jsonl, iter_patches, run_patch
from proda.pipelines.debug.patch import fill, plan
from proda.pipelines.tester.check import check_benchmark
from proda.schema.store.base import GraphStore
from tests.debug_world import RuleScorer, World, build_world, evaluate_run, never, ratio_ok
from tests.graphs import covers

# T1: both hops known, chain failed -> reasoning deficit; T2: second hop unknown -> concept gap
KNOWN = ["price>supply", "supply>surplus", "tax>demand"]


def patched(store: GraphStore, home: Path, *, budget: int = 10, ratio: float = 0.3) -> tuple[World, PatchReport]:
    """The world, failed on T1 and T2, diagnosed and patched with ``budget`` and replay ``ratio``."""
    w = build_world(store)
    evaluate_run(store, home, w, correct=["growth"])
    config = PatchConfig(run="dbg-run", discipline="economics", budget=budget, replay_ratio=ratio)
    report = run_patch(store, config, home, scorer_factory=lambda: RuleScorer(w, known=KNOWN))
    return w, report


def kinds(store: GraphStore) -> dict[str, int]:
    rows = store.run("MATCH (p:Patch) RETURN p.kind AS kind, count(p) AS n")
    return {r["kind"]: r["n"] for r in rows}


def test_patch_set_repairs_each_diagnosis_and_respects_budget_and_ratio(store: GraphStore, tmp_path: Path) -> None:
    covers("debug_weak_relations", "debug_concept_facts", "debug_chains", "debug_patch_sets",
           "debug_upsert_patch_set", "debug_patches")
    w, report = patched(store, tmp_path, budget=10, ratio=0.3)
    [shard] = report.shards
    assert shard.status == "written" and shard.patches == 10
    assert kinds(store) == {"f_refine": 4, "f_cot": 3, "replay": 3}  # 7 targeted split 1:1 by diagnoses, 30% replay
    # f_refine repairs the concept gap and teaches its weak concepts, grounded in the chunk
    refine = store.run("MATCH (p:Patch {kind: 'f_refine'})-[:REPAIRS]->(d:Diagnosis) RETURN d.kind AS kind, "
                       "p.messages AS m, [(p)-[:TEACHES]->(c:Concept) | c.name] AS teaches, "
                       "[(p)-[:FROM_CHUNK]->(k:Chunk) | k.id] AS chunks, p.family AS family")
    assert {r["kind"] for r in refine} == {"concept_gap"}
    assert all({"demand", "shortage"} & set(r["teaches"]) for r in refine)
    grounded = [r for r in refine if r["family"] == "refine_grounded"]
    assert w.chunk is not None and grounded and grounded[0]["chunks"] == [w.chunk.id]
    answer = json.loads(grounded[0]["m"])[1]["content"]
    assert "Demand causes shortage." in answer and "Strong demand causes a shortage." in answer
    # f_cot repairs the reasoning deficit with train chains only
    cot = store.run("MATCH (p:Patch {kind: 'f_cot'})-[:FROM_CHAIN]->(ch:Chain) MATCH (p)-[:REPAIRS]->(d:Diagnosis) "
                    "RETURN ch.id AS chain, ch.split AS split, d.kind AS kind, p.family AS family, p.messages AS m")
    assert len(cot) == 3 and {r["split"] for r in cot} == {"train"}
    assert {r["kind"] for r in cot} == {"reasoning_deficit"}
    assert {r["chain"] for r in cot} <= {w.chains["R1"].id, w.chains["R2"].id}
    # T1 was failed on its TRUNC distractor: the scaffold that says why stopping early is wrong comes first
    assert "cot_no_shortcut" in {r["family"] for r in cot}
    steps = json.loads(cot[0]["m"])[1]["content"]
    assert "Step 1:" in steps and "Step 2:" in steps
    # replay copies V1 examples, linked to them
    replay = store.run("MATCH (p:Patch {kind: 'replay'})-[:REPLAYS]->(x:TrainingExample {dataset: 'v1'}) "
                       "RETURN p.qa_hash AS h, x.qa_hash AS xh")
    assert len(replay) == 3 and all(r["h"] == r["xh"] for r in replay)
    # the whole set passes the benchmark's orthogonality check
    assert check_benchmark(store, "dbg").ok
    [ps] = store.query("debug_patch_sets", {"name": "v2", "discipline": None})
    assert ps["status"] == "complete" and ps["patches"] == 10 and ps["run_id"] == report.run.id


def test_answer_style_leads_with_the_benchmark_form_and_explain_style_leaves_it_out(
        store: GraphStore, tmp_path: Path) -> None:
    from proda.pipelines.tester.question import question_text
    from proda.schema.vocabulary import default_vocabulary

    w = build_world(store)
    evaluate_run(store, tmp_path, w, correct=["growth"])
    for style, budget in (("answer", 2), ("explain", 2)):
        config = PatchConfig(run="dbg-run", discipline="economics", budget=budget, replay_ratio=0.0, style=style,
                             patch_set=f"s_{style}")
        run_patch(store, config, tmp_path, scorer_factory=lambda: RuleScorer(w, known=KNOWN))
    rows = store.run("MATCH (p:Patch) RETURN p.patch_set AS s, p.family AS family, p.messages AS m")
    answer = {r["family"]: json.loads(r["m"]) for r in rows if r["s"] == "s_answer"}
    explain = {r["family"] for r in rows if r["s"] == "s_explain"}
    # one patch per diagnosis takes its first family: the question forms under "answer"
    assert set(answer) == {"refine_question", "cot_answer"}
    user, reply = answer["refine_question"][0]["content"], answer["refine_question"][1]["content"]
    gap = w.r["demand>shortage"]  # T2's unknown hop: the concept gap
    assert user == question_text("economics", "demand", [gap.type], default_vocabulary()) and reply == "shortage"
    assert answer["cot_answer"][1]["content"] in {"surplus", "trade", "inflation", "market condition"}
    assert "\n" not in answer["cot_answer"][1]["content"]  # a name, not a walk
    assert explain and not explain & {"refine_question", "cot_answer"}
    with pytest.raises(ConfigError, match="style"):
        PatchConfig(run="dbg-run", style="verbose")


def test_f_cot_never_uses_test_or_dev_chains(store: GraphStore, tmp_path: Path) -> None:
    """D1 (dev) and T2/T3 (test) share more with T1 than R1 does; R3 (train) walks all of T1: none is used."""
    w, _ = patched(store, tmp_path, budget=40, ratio=0.0)
    used = store.run("MATCH (p:Patch)-[:FROM_CHAIN]->(ch:Chain) RETURN DISTINCT ch.id AS id, ch.split AS split")
    assert {r["id"] for r in used} == {w.chains["R1"].id, w.chains["R2"].id}
    assert not store.run("MATCH (p:Patch)-[:FROM_CHAIN]->(ch:Chain) WHERE ch.split <> 'train' RETURN p.id")
    texts = " ".join(r["m"] for r in store.run("MATCH (p:Patch {kind: 'f_cot'}) RETURN p.messages AS m"))
    assert "production" not in texts and "market condition" not in texts


def test_a_large_budget_falls_short_but_keeps_the_replay_ratio(store: GraphStore, tmp_path: Path) -> None:
    _, report = patched(store, tmp_path, budget=200, ratio=0.25)
    [shard] = report.shards
    n = kinds(store)
    targeted = n["f_refine"] + n["f_cot"]
    assert shard.shortfall and "budget 200" in shard.shortfall
    assert targeted == shard.available["f_refine"] + shard.available["f_cot"]  # all the material is used
    assert sum(n.values()) == shard.patches < 200 and ratio_ok(n["replay"], sum(n.values()), 0.25)


def test_plan_and_fill() -> None:
    assert plan(10, 0.3, 1, 1) == {"f_refine": 4, "f_cot": 3, "replay": 3}
    assert plan(10, 0.0, 3, 0) == {"f_refine": 10, "f_cot": 0, "replay": 0}
    assert plan(1, 0.9, 1, 1)["replay"] == 0  # one targeted example always stays
    # f_cot has nothing: its share goes to f_refine; replay stays at the ratio
    assert fill(plan(20, 0.25, 1, 1), {"f_refine": 50, "f_cot": 0, "replay": 99}, 20, 0.25) == \
        {"f_refine": 15, "f_cot": 0, "replay": 5}
    # both short: replay shrinks with them
    assert fill(plan(20, 0.25, 1, 1), {"f_refine": 3, "f_cot": 3, "replay": 99}, 20, 0.25) == \
        {"f_refine": 3, "f_cot": 3, "replay": 2}


def test_rerun_skips_a_complete_set_force_replaces_it_whole(store: GraphStore, tmp_path: Path) -> None:
    patched(store, tmp_path)
    before = store.run("MATCH (p:Patch) RETURN p.id AS id, p.messages AS m ORDER BY id")
    config = PatchConfig(run="dbg-run", discipline="economics", budget=10)
    again = run_patch(store, config, tmp_path, scorer_factory=never)
    assert [s.status for s in again.shards] == ["done"] and again.shards[0].patches == 10
    assert (tmp_path / "runs" / "patch" / "v2" / "completions" / "economics.done").is_file()
    forced = run_patch(store, PatchConfig(run="dbg-run", discipline="economics", budget=10, force=True), tmp_path,
                       scorer_factory=never)  # diagnoses are reused: no model needed
    assert forced.shards[0].status == "written"
    assert store.run("MATCH (p:Patch) RETURN p.id AS id, p.messages AS m ORDER BY id") == before  # deterministic
    smaller = run_patch(store, PatchConfig(run="dbg-run", discipline="economics", budget=4, replay_ratio=0.25,
                                           force=True), tmp_path, scorer_factory=never)
    assert smaller.shards[0].patches == 4 and sum(kinds(store).values()) == 4  # the old set left nothing behind
    with pytest.raises(ConfigError, match="pass --force to replace it"):
        run_patch(store, PatchConfig(run="dbg-run", discipline="economics", budget=10), tmp_path,
                  scorer_factory=never)


def test_orthogonality_check_catches_bad_patches(store: GraphStore, tmp_path: Path) -> None:
    w, _ = patched(store, tmp_path)
    assert check_benchmark(store, "dbg").ok
    item = w.items["T1"]
    store.run("MATCH (ch:Chain {id: $c}) CREATE (:Patch {id: 'pat_bad1', kind: 'f_cot', qa_hash: 'x'})"
              "-[:FROM_CHAIN]->(ch)", {"c": w.chains["T1"].id}, read_only=False)
    store.run("CREATE (:Patch {id: 'pat_bad2', kind: 'f_refine', qa_hash: $h})", {"h": item.qa_hash},
              read_only=False)
    store.run("CREATE (:Patch {id: 'pat_bad3', kind: 'f_cot', qa_hash: 'y'})", read_only=False)
    store.run("CREATE (:Patch {id: 'pat_bad4', kind: 'f_refine'})", read_only=False)
    found = {(v.check, v.detail.split()[1]) for v in check_benchmark(store, "dbg").violations}
    assert found == {("from_held_out_chain", "pat_bad1"), ("instance_identical", "pat_bad2"),
                     ("untraced_scaffold", "pat_bad3"), ("unhashed_patch", "pat_bad4")}


def test_no_failures_write_nothing(store: GraphStore, tmp_path: Path) -> None:
    w = build_world(store)
    evaluate_run(store, tmp_path, w, correct=["surplus", "shortage", "growth"])
    report = run_patch(store, PatchConfig(run="dbg-run", discipline="economics", budget=10), tmp_path,
                       scorer_factory=never)
    [shard] = report.shards
    assert shard.status == "no_failures" and "no failed items in economics" in shard.message
    assert not store.run("MATCH (x) WHERE x:Patch OR x:PatchSet OR x:Diagnosis RETURN x.id")


def test_bad_input_leaves_no_partial_set(store: GraphStore, tmp_path: Path) -> None:
    w = build_world(store, v1=False)  # no V1 dataset to replay from
    evaluate_run(store, tmp_path, w)
    with pytest.raises(InputError, match="replay dataset 'v1' has no examples in economics"):
        run_patch(store, PatchConfig(run="dbg-run", discipline="economics"), tmp_path,
                  scorer_factory=lambda: RuleScorer(w, known=KNOWN))
    assert not store.run("MATCH (x) WHERE x:Patch OR x:PatchSet RETURN x.id")
    assert store.run("MATCH (d:Diagnosis) RETURN count(d) AS n") == [{"n": 3}]  # the measurement is kept
    with pytest.raises(InputError, match="answered no item in discipline 'physics'; its disciplines: economics"):
        run_patch(store, PatchConfig(run="dbg-run", discipline="physics"), tmp_path, scorer_factory=never)
    with pytest.raises(NotFound, match="no evaluation run 'evr_missing'"):
        run_patch(store, PatchConfig(run="evr_missing"), tmp_path, scorer_factory=never)
    with pytest.raises(ConfigError, match="budget 0: a patch set needs at least 1 example"):
        PatchConfig(run="dbg-run", budget=0)
    with pytest.raises(ConfigError, match="unknown key"):
        PatchConfig.from_dict({"run": "x", "budgte": 3})
    # replay off: the set is written from the diagnoses alone
    report = run_patch(store, PatchConfig(run="dbg-run", discipline="economics", budget=6, replay_ratio=0),
                       tmp_path, scorer_factory=never)
    assert report.shards[0].patches == 6 and "replay" not in kinds(store)


def test_export_trains_through_train_file(store: GraphStore, tmp_path: Path) -> None:
    patched(store, tmp_path, budget=8, ratio=0.25)
    out = tmp_path / "patch.jsonl"
    assert export_jsonl(store, "v2", out) == 8
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in records] == [r["id"] for r in iter_patches(store, "v2")]
    assert {r["kind"] for r in records} == {"f_refine", "f_cot", "replay"}
    assert all(r["messages"][-1]["role"] == "assistant" for r in records)
    assert all(r["diagnoses"] for r in records if r["kind"] != "replay")
    with pytest.raises(NotFound, match="patch set 'v3' has no complete patches"):
        export_jsonl(store, "v3", tmp_path / "none.jsonl")
    from proda.training.sft import TrainConfig, load_records

    prompts = load_records(TrainConfig(dataset=None, train_file=str(out)), None)  # what TRL receives
    assert len(prompts) == 8 and all(p["prompt"].startswith("Question: ") and p["completion"].startswith(" ")
                                     for p in prompts)  # the evaluation's plain layout, V1's recipe
    chat = load_records(TrainConfig(dataset=None, train_file=str(out), prompt_format="chat"), None)
    assert all(p["completion"][0]["role"] == "assistant" for p in chat)
    marked = tmp_path / "marked.jsonl"  # the file saved again by an editor that opens it with a byte-order mark
    marked.write_bytes(b"\xef\xbb\xbf" + out.read_bytes())
    assert load_records(TrainConfig(dataset=None, train_file=str(marked)), None) == prompts


def test_the_last_gate_refuses_a_scaffold_of_a_held_out_chain(store: GraphStore, tmp_path: Path) -> None:
    """Should a chain be re-split between reading and writing, the set is refused whole."""
    from proda.errors import PreconditionFailed
    from proda.pipelines.debug.diagnose import find_run
    from proda.pipelines.debug.patch import PatchStats, write_patch_set

    w = build_world(store, v1=False)
    evaluate_run(store, tmp_path, w)
    row = {"id": "pat_x", "repairs": [], "teaches": [], "chains": [w.chains["T1"].id], "chunks": [], "replays": [],
           "props": {"kind": "f_cot", "qa_hash": "h", "messages": "[]"}}
    with pytest.raises(PreconditionFailed, match=r"non-train chain\(s\)"):
        write_patch_set(store, find_run(store, "dbg-run"), "economics", PatchConfig(run="dbg-run"), [row],
                        PatchStats())
    assert not store.run("MATCH (x) WHERE x:Patch OR x:PatchSet RETURN x.id")
