"""The real ``proda`` console script in subprocesses, each with PRODA_HOME in a temporary directory.

Commands that need a graph run against an embedded server started by ``proda graph up`` in that
home (conftest's ``running_home``, one per module; each test on a graph of its own, ``cli_graph``),
so a test pays for no extra start/stop; ``graph up/down`` gets a fresh home of its own. Servers are
always terminated afterwards.
"""

from __future__ import annotations

import json
import re
import socket
from importlib import resources
from pathlib import Path
from typing import Any

import psutil

from proda.schema.catalog import default_catalog
from tests.console import proda, proda_concurrently, servers_running, terminate_servers
from tests.graphs import graph_content

SAMPLE = Path(str(resources.files("proda.sample") / "knowledge.jsonl"))
WHILE_LOOP = "con_a7224d041d89c5bedd30"  # 'while loop' in the sample (computer_science)


def test_help_names_the_subcommands_and_options(tmp_path: Path) -> None:
    top, query = proda_concurrently(("--help",), ("query", "--help"), home=tmp_path)
    assert top.returncode == 0, top.stderr
    for command in ("graph", "load", "check", "stats", "query", "demo"):
        assert command in top.stdout
    assert query.returncode == 0, query.stderr
    for option in ("--list", "--show", "--param", "--backend", "--json"):
        assert option in query.stdout
    assert not servers_running(tmp_path)  # help starts nothing


def test_query_list_and_show_the_catalog(tmp_path: Path) -> None:
    listed, shown, missing = proda_concurrently(
        ("query", "--list", "--json"), ("query", "--show", "chain_detail", "--backend", "neo4j"),
        ("query", "--show", "nope"), home=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert sorted(row["name"] for row in json.loads(listed.stdout)) == default_catalog().names()

    assert shown.returncode == 0, shown.stderr
    assert "$id" in shown.stdout
    assert shown.stdout == default_catalog().get("chain_detail").text("neo4j")

    assert missing.returncode == 4
    assert "'nope'" in missing.stderr
    assert missing.stdout == ""


def test_load_then_check_stats_and_query_the_sample(running_home: Path, cli_graph: str) -> None:
    loaded = proda("load", str(SAMPLE), "--json", home=running_home, graph=cli_graph)
    assert loaded.returncode == 0, loaded.stderr
    [report] = json.loads(loaded.stdout)
    assert report["written"] == {"document": 2, "chunk": 2, "concept": 15, "relation": 13, "chain": 6}

    checked, stats, neighbours = proda_concurrently(
        ("check", "--json"), ("stats", "--json"),
        ("query", "concept_neighbours", "-p", f"id={WHILE_LOOP}", "--json"), home=running_home, graph=cli_graph)
    assert checked.returncode == 0, checked.stderr
    by_discipline = {d["discipline"]: d for d in json.loads(checked.stdout)["disciplines"]}
    assert set(by_discipline) == {"economics", "computer_science"}
    for d in by_discipline.values():
        assert 0 < d["concept_reachability"] <= 1
        assert 0 < d["relation_reachability"] <= 1
        assert d["components"] >= 1
    assert by_discipline["economics"]["concepts"] == 9

    assert stats.returncode == 0, stats.stderr
    rows = {r["discipline"]: r for r in json.loads(stats.stdout)}
    assert rows["computer_science"] == {"discipline": "computer_science", "documents": 1, "chunks": 1,
                                        "concepts": 6, "relations": 6, "chains": 2}

    assert neighbours.returncode == 0, neighbours.stderr
    found = {(r["direction"], r["type"], r["neighbour_name"]) for r in json.loads(neighbours.stdout)}
    assert found == {("out", "has_part", "loop body"), ("out", "requires", "loop expression"),
                     ("in", "example_of", "fibonacci sequence")}


def test_load_errors_exit_2_naming_file_and_line(running_home: Path, cli_graph: str, tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text(
        '{"kind": "concept", "name": "alpha", "discipline": "testing"}\n{"kind": "concept", "name": \n')
    bad, missing = proda_concurrently(("load", "bad.jsonl"), ("load", "missing.jsonl"),
                                      home=running_home, graph=cli_graph, cwd=tmp_path)
    assert bad.returncode == 2
    assert "bad.jsonl:2" in bad.stderr
    assert "malformed JSON" in bad.stderr

    assert missing.returncode == 2
    assert "missing.jsonl" in missing.stderr
    assert "no such file" in missing.stderr


def test_error_naming_a_long_path_stays_on_one_line(running_home: Path, cli_graph: str, tmp_path: Path) -> None:
    deep = tmp_path / "extractions" / "openstax_principles_of_economics_3e" / "chapter_12_inflation"
    deep.mkdir(parents=True)
    path = deep / "knowledge.jsonl"
    path.write_text("{not json}\n")
    bad = proda("load", str(path), home=running_home, graph=cli_graph)
    assert bad.returncode == 2
    assert any(f"{path}:1:" in ln for ln in bad.stderr.splitlines()), bad.stderr


def test_a_path_that_cannot_be_written_exits_2_naming_it(tmp_path: Path) -> None:
    (tmp_path / "report").write_text("a file where the command needs a folder\n")
    blocked = proda("extract", "score", "--gold", "dev", "--backend", "heuristic",
                    "--json", str(tmp_path / "report" / "score.json"), home=tmp_path)
    assert blocked.returncode == 2, blocked.stderr
    assert f"{tmp_path / 'report'}: " in blocked.stderr and "a file of that name is in the way" in blocked.stderr
    assert "Traceback" not in blocked.stderr


def test_query_parameter_and_mode_errors_exit_2(tmp_path: Path) -> None:
    bogus, write = proda_concurrently(("query", "concept_neighbours", "-p", "bogus=1"),
                                      ("query", "upsert_concepts"), home=tmp_path)
    assert bogus.returncode == 2
    assert "bogus" in bogus.stderr
    assert write.returncode == 2
    assert "writes to the graph" in write.stderr
    assert not servers_running(tmp_path)  # rejected before any graph was opened


def test_graph_up_status_down(tmp_path: Path) -> None:
    home = tmp_path / "home"
    try:
        up = proda("graph", "up", home=home)
        assert up.returncode == 0, up.stderr
        status = json.loads(proda("graph", "status", "--json", home=home).stdout)
        assert status["running"] is True
        assert psutil.pid_exists(status["pid"])

        down = proda("graph", "down", home=home)
        assert down.returncode == 0, down.stderr
        assert "stopped" in down.stdout
        after = json.loads(proda("graph", "status", "--json", home=home).stdout)
        assert after["running"] is False
        assert after["pid"] is None
        assert not psutil.pid_exists(status["pid"])
    finally:
        terminate_servers(home)


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_graph_url_exits_3_naming_it(tmp_path: Path) -> None:
    url = f"falkordb://127.0.0.1:{_closed_port()}"
    result = proda("stats", home=tmp_path, url=url)
    assert result.returncode == 3, result.stderr[-500:]
    assert url in result.stderr


def test_graph_url_with_an_unknown_scheme_exits_2(tmp_path: Path) -> None:
    result = proda("stats", home=tmp_path, url="http://x")
    assert result.returncode == 2
    assert "scheme 'http'" in result.stderr
    assert "falkordb://" in result.stderr  # says what to use instead


def test_demo_runs_offline(running_home: Path) -> None:
    # --no-train: training SmolLM2 takes minutes on a CPU; the training job has its own tests
    result = proda("demo", "--no-train", home=running_home)
    assert result.returncode == 0, result.stderr
    assert "demo finished" in result.stdout
    assert "2 documents" in result.stdout  # it loaded the bundled sample
    assert "8 seen: 8 new" in result.stdout  # it ingested the bundled corpus excerpt
    assert "labelled extractor=dependency" in result.stdout  # the offline default
    assert re.search(r"\d+ composed chains written", result.stdout)
    built = re.search(r"(\d+) items from \d+ held-out chains \((\d+) test items", result.stdout)
    assert built and int(built[1]) >= 55 and int(built[2]) >= 20, built  # a sample that shows something
    assert "bench check:" in result.stdout and "validity and orthogonality hold" in result.stdout
    assert re.search(r"\d+ examples: question \d+", result.stdout)  # the Builder ran
    graph = _demo_graph(running_home)
    again = proda("demo", "--no-train", home=running_home)
    assert again.returncode == 0, again.stderr
    assert "8 seen: 0 new, 0 changed, 8 unchanged" in again.stdout  # a rerun changes nothing
    assert "nothing new" in again.stdout
    # nor does it change the graph: the hand-made file and the extractor state some of the same
    # concepts, relations and chains, and the rerun writes them in another order than the first run
    assert _demo_graph(running_home) == graph



def _demo_graph(home: Path) -> tuple[list[Any], list[Any]]:
    from proda.cli.context import load_settings
    from proda.schema.store import open_store

    with open_store(load_settings(home, graph_name="proda_demo")) as store:
        return graph_content(store)


def test_ingest_extract_resolve_merges(running_home: Path, cli_graph: str, tmp_path: Path) -> None:
    corpus = Path(__file__).parent / "fixtures" / "corpus_e2e.jsonl"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "economics/empty", "discipline": "economics", "title": "t", "text": "   "}\n'
                   "not json\n")
    ingested = proda("ingest", str(corpus), str(bad), "--json", home=running_home, graph=cli_graph)
    assert ingested.returncode == 0, ingested.stderr
    report = json.loads(ingested.stdout)
    assert report["new"] == 32 and len(report["rejected"]) == 2
    assert {r["item"] for r in report["rejected"]} >= {"economics/empty"}
    assert any("bad.jsonl" in f"{r['item']} {r['origin']}" and ":2" in f"{r['item']} {r['origin']}"
               for r in report["rejected"])  # the malformed line is named by file and line
    missing = proda("ingest", str(tmp_path / "nope.jsonl"), home=running_home, graph=cli_graph)
    assert missing.returncode == 2 and "nope.jsonl" in missing.stderr
    # nothing could be ingested: a batch job must not read that as success
    only_bad = proda("ingest", str(bad), "--json", home=running_home, graph=cli_graph)
    assert only_bad.returncode == 2 and "all 2 input(s) were rejected" in only_bad.stderr
    assert len(json.loads(only_bad.stdout)["rejected"]) == 2  # the report still comes first
    (tmp_path / "empty").mkdir()
    nothing = proda("ingest", str(tmp_path / "empty"), home=running_home, graph=cli_graph)
    assert nothing.returncode == 2 and "no documents found in" in nothing.stderr and "empty" in nothing.stderr
    estimate = proda("extract", "--estimate", home=running_home, graph=cli_graph)
    assert estimate.returncode == 0 and "no model calls" in estimate.stdout
    extracted = proda("extract", "--json", home=running_home, graph=cli_graph)
    assert extracted.returncode == 0, extracted.stderr
    shards = json.loads(extracted.stdout)["shards"]
    assert sorted(s["discipline"] for s in shards) == ["business", "college_success", "computer_science",
                                                        "economics"]
    assert all(s["elements"].get("chain", 0) > 0 for s in shards)
    dry = json.loads(proda("resolve", "--dry-run", "--json", home=running_home, graph=cli_graph).stdout)
    assert dry["dry_run"] and dry["merges"]
    assert json.loads(proda("merges", "--json", home=running_home, graph=cli_graph).stdout) == []
    done = json.loads(proda("resolve", "--json", home=running_home, graph=cli_graph).stdout)["merges"]
    assert {(m["duplicate"], m["canonical"]) for m in done} == {(m["duplicate"], m["canonical"])
                                                                for m in dry["merges"]}
    listed = json.loads(proda("merges", "--json", home=running_home, graph=cli_graph).stdout)
    assert {m["id"] for m in listed} == {m["id"] for m in done}
    undo = proda("merges", "--undo", done[0]["id"], home=running_home, graph=cli_graph)
    assert undo.returncode == 0, undo.stderr
    assert len(json.loads(proda("merges", "--json", home=running_home, graph=cli_graph).stdout)) == len(done) - 1
    unknown = proda("merges", "--undo", "mrg_nope", home=running_home, graph=cli_graph)
    assert unknown.returncode == 4 and "mrg_nope" in unknown.stderr
