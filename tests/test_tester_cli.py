"""``proda bench`` as a user runs it: the real console script in subprocesses on an embedded graph."""

from __future__ import annotations

import json
from pathlib import Path

from proda.pipelines.tester.model import item_id
from proda.schema import Relation
from proda.schema.store.writer import Element
from tests.console import proda, proda_concurrently
from tests.graphs import HAND
from tests.tester_world import economics


def _jsonl(path: Path, elements: list[Element]) -> Path:
    path.write_text("".join(e.model_dump_json() + "\n" for e in elements))
    return path


def test_bench_build_check_show_export(running_home: Path, cli_graph: str, tmp_path: Path) -> None:
    w = economics()
    iid = item_id("proda", w.chains["A"].id)
    loaded = proda("load", str(_jsonl(tmp_path / "world.jsonl", w.elements)), home=running_home, graph=cli_graph)
    assert loaded.returncode == 0, loaded.stderr

    built = proda("bench", "build", "--seed", "3", "--json", home=running_home, graph=cli_graph)
    assert built.returncode == 0, built.stderr
    report = json.loads(built.stdout)
    assert report["items"] == 1 and report["shards"][0]["skipped"] == {"too_few_distractors": 3}

    out = tmp_path / "lm"
    checked, shown, exported, missing, unknown = proda_concurrently(
        ("bench", "check", "--bench", "proda"), ("bench", "show", iid, "--json"),  # --bench as in `proda eval`
        ("bench", "export", "-b", "proda", "--format", "lm-eval", "--out", str(out), "--json"),
        ("bench", "show", "bmi_nope"), ("bench", "build", "--discipline", "physics"),
        home=running_home, graph=cli_graph)
    assert checked.returncode == 0, checked.stderr
    assert "1 items valid and orthogonal" in checked.stdout
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert detail["item"]["answer"] == "surplus" and [r["concept_name"] for r in detail["chain"]] == [
        "price", "supply", "surplus"]
    assert exported.returncode == 0, exported.stderr
    assert {Path(f).name for f in json.loads(exported.stdout)["files"]} == {"proda_proda.yaml", "utils.py",
                                                                           "test.jsonl"}
    assert missing.returncode == 4 and "bmi_nope" in missing.stderr
    assert unknown.returncode == 2 and "discipline 'physics' has no L3 chains" in unknown.stderr

    # the graph changes under the benchmark: supply -causes-> trade makes the distractor "trade" correct
    new = Relation(type="causes", subject_id=w.c["supply"].id, object_id=w.c["trade"].id, discipline="economics",
                   provenance=HAND)
    assert proda("load", str(_jsonl(tmp_path / "new.jsonl", [new])), home=running_home, graph=cli_graph).returncode == 0
    broken, table = proda_concurrently(("bench", "check", "--json"), ("bench", "check"),
                                       home=running_home, graph=cli_graph)
    assert broken.returncode == 1 and table.returncode == 1
    [violation] = json.loads(broken.stdout)["violations"]
    assert (violation["check"], violation["item_id"]) == ("distractor_reachable", iid)
    assert "1 violation(s) in 1 items" in table.stdout


def test_builder_families_from_the_command_line(running_home: Path, cli_graph: str, tmp_path: Path) -> None:
    w = economics()
    assert proda("load", str(_jsonl(tmp_path / "world.jsonl", w.elements)), home=running_home,
                 graph=cli_graph).returncode == 0
    default, chosen, bad = proda_concurrently(
        ("build", "--dataset", "plain", "--json"), ("build", "--dataset", "two", "--families", "statement, question",
                                                    "--json"),
        ("build", "--dataset", "bad", "--families", "question,poetry"), home=running_home, graph=cli_graph)
    assert default.returncode == 0, default.stderr
    [row] = json.loads(default.stdout)["disciplines"]
    assert row["question"] == row["examples"] > 0  # the default recipe: the benchmark's question form only
    assert chosen.returncode == 0, chosen.stderr
    [row] = json.loads(chosen.stdout)["disciplines"]
    assert row["statement"] > 0 and row["question"] > 0 and row["examples"] == row["statement"] + row["question"]
    assert bad.returncode == 2 and "poetry" in bad.stderr
