"""Scoring extractors against the hand-annotated gold set: matching rules, aggregation, the gold build, the CLI.

The gold files here are built from a tiny made-up pool (tests/score_world.py) by the same
``data/gold/build_gold.py`` functions that build the committed set; the CLI runs as a user runs it,
and the OpenAI-compatible backend scores through its real client against the loopback wire server.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from proda.errors import InputError
from proda.pipelines.extract.heuristic import HeuristicExtractor
from proda.pipelines.extract.score import (
    Triple,
    match_triples,
    names_match,
    read_gold,
    score,
    score_file,
    triples_match,
)
from proda.schema.vocabulary import default_vocabulary
from tests.console import cli_env
from tests.llm_wire import WireServer, openai_completion
from tests.score_world import (
    ANNOTATIONS,
    C1,
    E1,
    E3,
    ScriptedExtractor,
    chain,
    extraction,
    load_build_gold,
    step,
    write_world,
)

pytestmark = pytest.mark.usefixtures("clean_llm_env")

VOCAB = default_vocabulary()
build_gold = load_build_gold()
REPO = Path(__file__).resolve().parents[1]


def t(subject: str, relation: str, obj: str) -> Triple:
    return Triple(subject=subject, relation=relation, object=obj)


def built(tmp_path: Path) -> Path:
    """The tiny world's gold files under ``tmp_path/gold``; returns that folder."""
    pool, annotations = write_world(tmp_path)
    out = tmp_path / "gold"
    out.mkdir()
    build_gold.write_gold(pool, annotations, out)
    return out


def proda(*args: str, home: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "proda.cli.main", *args], env=env or cli_env(home, None, None),
                          capture_output=True, text=True, timeout=120, check=False)


# --- matching rules --------------------------------------------------------------------------------


def test_strict_names_share_a_resolver_key_and_lenient_names_also_overlap() -> None:
    assert names_match("Supply curves", "supply curve", lenient=False)  # plural/singular key
    assert names_match("GDP", "gdp", lenient=False)  # an acronym: its normalised name
    # lenient only: the noun phrase cut at another place, or spelt another way
    for a, b in [("the price level", "price level"), ("wage rate", "real wage rate"),
                 ("labour market", "labor market")]:
        assert names_match(a, b) and not names_match(a, b, lenient=False), (a, b)
    # neither: a bare head noun of a longer phrase, a contrasting prefix, an acronym against a word
    for a, b in [("rate", "real wage rate"), ("intracellular fluid", "intercellular fluid"), ("AIDS", "aid"),
                 ("supply", "demand")]:
        assert not names_match(a, b), (a, b)


def test_converse_and_symmetric_types_are_one_triple_but_direction_matters_otherwise() -> None:
    assert triples_match(t("tissue", "has_part", "cell"), t("cell", "part_of", "tissue"), VOCAB)
    assert triples_match(t("recession", "follows", "expansion"), t("expansion", "precedes", "recession"), VOCAB)
    assert not triples_match(t("recession", "precedes", "expansion"), t("expansion", "precedes", "recession"), VOCAB)
    assert triples_match(t("deflation", "contrasts_with", "inflation"), t("inflation", "contrasts_with", "deflation"),
                         VOCAB)
    assert not triples_match(t("investment", "causes", "growth"), t("growth", "causes", "investment"), VOCAB)
    assert not triples_match(t("investment", "increases", "growth"), t("investment", "causes", "growth"), VOCAB)


def test_matching_is_one_to_one_and_prefers_strict_pairs() -> None:
    gold = [t("price level", "causes", "inflation"), t("general price level", "causes", "inflation")]
    predicted = [t("general price level", "causes", "inflation")]
    # leniently the prediction matches both gold triples; it is paired with the strict one
    assert match_triples(predicted, gold, VOCAB) == [(1, 0)]
    twice = [t("interest rate", "decreases", "investment"), t("interest rates", "decreases", "investment")]
    assert match_triples(twice, [t("interest rates", "decreases", "investment")], VOCAB) == [(0, 0)]
    assert match_triples(twice, [t("interest rates", "decreases", "investment")], VOCAB, lenient=False) == [(0, 0)]


# --- scoring and aggregation -----------------------------------------------------------------------


def test_score_counts_per_discipline_and_overall(tmp_path: Path) -> None:
    dev = built(tmp_path) / "dev.jsonl"
    gold = read_gold(dev)
    assert sorted(g.key for g in gold) == ["computer_science/m1#0", "economics/m1#0", "economics/m3#2"]
    marked = tmp_path / "marked.jsonl"  # a file saved with a byte-order mark reads the same
    marked.write_bytes(b"\xef\xbb\xbf" + dev.read_bytes())
    assert [g.key for g in read_gold(marked)] == [g.key for g in gold]
    extractor = ScriptedExtractor({
        E1: extraction(
            [("interest rates", "decreases", "investment", "Higher interest rates reduce investment"),
             ("investment", "raises", "aggregate demand", "Lower investment lowers aggregate demand")],  # a synonym
            # lenient only, and reversed
            [("deflation rate", "contrasts_with", "inflation", "Inflation differs from deflation")],
            [("money", "causes", "prices", "a sentence the chunk does not have")]),  # quarantined, no prediction
        E3: extraction([("exercises", "part_of", "chapter", "This section lists exercises for the chapter")]),
        C1: RuntimeError("backend fell over"),
    })
    report = score(gold, extractor, gold_path="dev.jsonl")
    econ, cs, overall = report.disciplines["economics"], report.disciplines["computer_science"], report.overall
    assert (econ.chunks, econ.gold_triples, econ.predicted_triples, econ.matched, econ.matched_strict) == (
        2, 3, 4, 3, 2)
    assert (econ.precision, econ.recall) == (0.75, 1.0)
    assert (econ.chain_recall, econ.chain_recall_strict, econ.multi_chain_recall) == (1.0, 0.5, 1.0)
    assert econ.quarantined == 1 and econ.chunks_without_gold == 1 and econ.chunks_without_prediction == 0
    assert econ.predicted_chain_lengths == {1: 2, 2: 1} and econ.gold_chain_lengths == {1: 1, 2: 1}
    assert econ.predicted_types == {"contrasts_with": 1, "decreases": 1, "increases": 1, "part_of": 1}
    # per type: precision over the predicted triples of the type, recall over the gold ones
    by_type = {t: (x.gold, x.predicted, x.matched_gold, x.matched_predicted, x.precision, x.recall)
               for t, x in report.overall.by_type.items()}
    assert by_type["part_of"] == (0, 1, 0, 0, 0.0, 0.0)  # spurious: a type the gold does not use
    assert by_type["decreases"] == (1, 1, 1, 1, 1.0, 1.0)
    assert by_type["is_a"] == (1, 0, 0, 0, 0.0, 0.0) and by_type["used_for"] == (1, 0, 0, 0, 0.0, 0.0)  # missed
    assert sum(x.predicted for x in report.overall.by_type.values()) == report.overall.predicted_triples
    assert sum(x.gold for x in report.overall.by_type.values()) == report.overall.gold_triples
    assert sum(x.matched_gold for x in report.overall.by_type.values()) == report.overall.matched
    assert (cs.gold_triples, cs.predicted_triples, cs.errors, cs.chunks_without_prediction) == (
        2, 0, {"RuntimeError": 1}, 1)
    assert (overall.gold_triples, overall.predicted_triples, overall.matched) == (5, 4, 3)
    assert (overall.precision, overall.recall, round(overall.f1, 4)) == (0.75, 0.6, 0.6667)
    assert (overall.precision_strict, overall.recall_strict) == (0.5, 0.4)
    assert overall.errors == {"RuntimeError": 1} and report.extractor == "scripted/test-v1"
    by_key = {c.key: c for c in report.chunks}
    assert [str(x) for x in by_key["economics/m3#2"].spurious] == ["exercises -[part_of]-> chapter"]
    assert sorted(str(x) for x in by_key["computer_science/m1#0"].missed) == [
        "compiler -[is_a]-> translator", "source code -[used_for]-> writing programs"]
    assert by_key["computer_science/m1#0"].error == "RuntimeError"
    assert json.loads(report.model_dump_json())["overall"]["gold_chain_lengths"] == {"1": 3, "2": 1}
    only = score(gold, ScriptedExtractor(), discipline="economics")
    assert list(only.disciplines) == ["economics"] and only.overall.chunks == 2
    with pytest.raises(InputError, match="biology"):
        score(gold, ScriptedExtractor(), discipline="biology")


def test_a_bad_gold_file_is_named_with_its_line(tmp_path: Path) -> None:
    good = (built(tmp_path) / "dev.jsonl").read_text().splitlines()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([*good[:3], '{"kind": "relation", "type": "leads_nowhere"}', *good[3:]]) + "\n")
    with pytest.raises(InputError, match=r"bad\.jsonl:4: invalid relation"):
        read_gold(bad)
    dangling = tmp_path / "dangling.jsonl"
    dangling.write_text("\n".join(line for line in good if '"kind": "relation"' not in line) + "\n")
    with pytest.raises(InputError, match=r"dangling\.jsonl:\d+: chain chn_\w+ names relation"):
        read_gold(dangling)


# --- building the gold files -----------------------------------------------------------------------


def test_build_gold_names_the_file_line_chain_and_step_of_every_problem(tmp_path: Path) -> None:
    econ = json.loads(json.dumps(ANNOTATIONS["economics"]))
    econ[1]["chains"][1]["steps"][0]["relation"] = "leads_to"  # a synonym is not the type's exact name
    econ[1]["chains"].append(chain(step("recession", "causes", "unemployment", "A recession raises unemployment")))
    econ[0]["chains"][0]["steps"][1]["subject"] = "investments spending"
    del econ[2]  # a pool chunk without its line
    pool, annotations = write_world(tmp_path, {**ANNOTATIONS, "economics": econ})
    with pytest.raises(InputError) as caught:
        build_gold.build(pool, annotations)
    message = str(caught.value)
    where = annotations / "economics.jsonl"
    assert f"{where}:2 chain 1 step 0: relation 'leads_to' is not a type of the vocabulary" in message
    assert f"{where}:2 chain 3 step 0: evidence is not a verbatim substring" in message
    assert f"{where}:1 chain 0 step 1: subject 'investments spending' is not the previous step's object" in message
    assert f"{where}: pool chunk 'economics/m3#2' has no line" in message
    assert "4 problem(s)" in message
    (annotations / "economics.jsonl").write_text('{"key": "economics/m1#0", "chains": [{"steps": []}]}\n'
                                                  '{"key": "economics/nope#0", "chains": []}\n')
    with pytest.raises(InputError) as caught:
        build_gold.build(pool, annotations)
    assert f"{where}:1 chain 0: 0 steps" in str(caught.value)
    assert f"{where}:2: key 'economics/nope#0' is not in the pool" in str(caught.value)


def test_build_gold_is_deterministic_and_loadable(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    first = built(tmp_path / "a")
    # the same annotations with lines and chains in another order give the same bytes
    shuffled = {d: [{**a, "chains": list(reversed(a["chains"]))} for a in reversed(lines)]
                for d, lines in ANNOTATIONS.items()}
    (tmp_path / "b").mkdir()
    pool, annotations = write_world(tmp_path / "b", shuffled)
    (tmp_path / "b" / "gold").mkdir()
    second = build_gold.write_gold(pool, annotations, tmp_path / "b" / "gold")
    for split in ("dev", "test"):
        assert (first / f"{split}.jsonl").read_bytes() == second[split].read_bytes()
    records = [json.loads(line) for line in (first / "test.jsonl").read_text().splitlines()]
    kinds = [r["kind"] for r in records]
    assert kinds == sorted(kinds, key=["document", "chunk", "concept", "relation", "chain"].index)
    assert {r["provenance"]["extractor"] for r in records if "provenance" in r} == {"gold"}
    assert {r["split"] for r in records if r["kind"] == "chain"} == {"test"}
    test = {g.key: g for g in read_gold(first / "test.jsonl")}
    markets = test["economics/m2#1"].chunk
    assert markets.text.startswith("A market economy") and markets.ordinal == 1
    assert [len(c) for c in test["computer_science/m2#3"].chains] == [2]


def test_the_committed_gold_files_are_what_build_gold_makes_of_the_annotations() -> None:
    gold = REPO / "data" / "gold"
    made = build_gold.build(gold / "pool.jsonl", gold / "annotations")
    for split in build_gold.SPLITS:
        committed = (gold / f"{split}.jsonl").read_text(encoding="utf-8")
        assert committed == build_gold.serialise(made[split]), f"rerun python data/gold/build_gold.py ({split})"
    assert read_gold(gold / "dev.jsonl") and read_gold(gold / "test.jsonl")


# --- the command -----------------------------------------------------------------------------------


def test_proda_extract_score_with_the_heuristic_backend(tmp_path: Path, proda_home: Path) -> None:
    gold = built(tmp_path) / "test.jsonl"
    done = proda("extract", "score", "--gold", str(gold), "--backend", "heuristic", "--json", "-", home=proda_home)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    expected = score_file(gold, HeuristicExtractor())
    assert report["extractor"] == "heuristic/heuristic-v2"
    assert report["overall"] == json.loads(expected.overall.model_dump_json())
    assert sorted(report["disciplines"]) == ["computer_science", "economics"]

    table = proda("extract", "score", "--gold", str(gold), "-b", "heuristic", "--errors", "2", "--json",
                  str(tmp_path / "out" / "report.json"), home=proda_home)
    assert table.returncode == 0, table.stderr
    assert "overall" in table.stdout and "missed" in table.stdout and "-[" in table.stdout
    typed = proda("extract", "score", "--gold", str(gold), "-b", "heuristic", "--by-type", home=proda_home)
    assert typed.returncode == 0, typed.stderr
    assert "by relation type" in typed.stdout
    for relation in report["overall"]["by_type"]:
        assert relation in typed.stdout
    assert json.loads((tmp_path / "out" / "report.json").read_text())["overall"] == report["overall"]

    bad = tmp_path / "bad.jsonl"
    bad.write_text(gold.read_text() + "not json\n")
    failed = proda("extract", "score", "--gold", str(bad), "-b", "heuristic", home=proda_home)
    lines = len(gold.read_text().splitlines()) + 1
    assert failed.returncode == 2 and f"{bad}:{lines}: malformed JSON" in failed.stderr
    misplaced = proda("extract", "--backend", "heuristic", "score", "--gold", str(gold), home=proda_home)
    assert misplaced.returncode == 2 and "--backend is an option of `proda extract` itself" in misplaced.stderr


def test_proda_extract_score_through_an_openai_compatible_server(
        tmp_path: Path, proda_home: Path, wire: WireServer) -> None:
    gold = built(tmp_path) / "dev.jsonl"
    answer = {"chains": [
        {"steps": [step("compiler", "isa", "translator", "A compiler is a kind of translator")], "summary": "s"},
        {"steps": [step("source code", "used_for", "programmers", "Source code is used for writing programs")],
         "summary": "s"}]}
    wire.script(openai_completion(json.dumps(answer)))
    done = proda("extract", "score", "--gold", str(gold), "--backend", "openai", "--model", "served-model",
                 "--base-url", f"{wire.url}/v1", "--discipline", "computer_science", "--json", "-", home=proda_home)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    (request,) = wire.received
    assert request.path == "/v1/chat/completions" and request.body["model"] == "served-model"
    assert C1 in json.dumps(request.body["messages"])
    assert report["extractor"] == "openai:served-model/topdown-v1"
    overall = report["overall"]
    # "programmers" is not "writing programs": one of two gold triples, one of two predictions
    assert (overall["gold_triples"], overall["predicted_triples"], overall["matched"]) == (2, 2, 1)
    assert overall["predicted_types"] == {"is_a": 1, "used_for": 1} and overall["errors"] == {}
