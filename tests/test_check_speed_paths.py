"""The single-pass structural check must report exactly what the per-figure rescan reports."""

from __future__ import annotations

import json
from pathlib import Path

from proda.pipelines.check import structural_report
from proda.pipelines.load import load_file
from proda.schema.store.base import GraphStore

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "knowledge.jsonl"


def _line(kind: str, **fields: object) -> str:
    return json.dumps({"kind": kind, **fields})


def _graph_with_orphans(store: GraphStore, tmp_path: Path) -> None:
    """The sample plus an isolated concept, a relation on no chain and a chain whose relation is deleted later."""
    extra = tmp_path / "extra.jsonl"
    extra.write_text("\n".join([
        _line("concept", id="con_lonely", name="lonely", discipline="economics"),
        _line("concept", id="con_x", name="x", discipline="economics"),
        _line("concept", id="con_y", name="y", discipline="economics"),
        _line("concept", id="con_z", name="z", discipline="economics"),
        _line("relation", id="rel_xy", type="causes", subject_id="con_x", object_id="con_y", discipline="economics"),
        _line("relation", id="rel_yz", type="requires", subject_id="con_y", object_id="con_z",
              discipline="economics", provenance={"extractor": "llm", "model": "m1"}),
        _line("chain", id="chn_xy", discipline="economics", relation_ids=["rel_xy"], concept_ids=["con_x", "con_y"]),
    ]) + "\n")
    load_file(store, SAMPLE, home=tmp_path, bulk=False)
    load_file(store, extra, home=tmp_path, bulk=False)


def test_single_pass_check_equals_rescan(store: GraphStore, tmp_path: Path) -> None:
    _graph_with_orphans(store, tmp_path)
    fast = structural_report(store)
    assert fast == structural_report(store, rescan=True)
    econ = next(d for d in fast.disciplines if d.discipline == "economics")
    assert econ.concepts == 9 + 4
    assert econ.isolated_concepts == 1  # con_lonely
    # con_lonely and con_z are on no chain; rel_yz is on no chain
    assert econ.uncovered_concepts >= 2 and econ.uncovered_relations >= 1
    assert econ.extractors.get("llm:m1") == 1 and econ.relation_types.get("requires", 0) >= 1
    assert econ.broken_chains == 0


def test_single_pass_check_finds_a_broken_chain(store: GraphStore, tmp_path: Path) -> None:
    _graph_with_orphans(store, tmp_path)
    before = structural_report(store)
    store.run("MATCH ()-[r:RELATION {id: 'rel_xy'}]->() DELETE r", read_only=False)
    after = structural_report(store)
    assert after == structural_report(store, rescan=True)
    econ_before = next(d for d in before.disciplines if d.discipline == "economics")
    econ = next(d for d in after.disciplines if d.discipline == "economics")
    assert econ.broken_chains == 1 and econ_before.broken_chains == 0
    assert econ.relations == econ_before.relations - 1


def test_single_pass_check_of_one_discipline(store: GraphStore, tmp_path: Path) -> None:
    _graph_with_orphans(store, tmp_path)
    one = structural_report(store, "computer_science")
    assert [d.discipline for d in one.disciplines] == ["computer_science"]
    assert one == structural_report(store, "computer_science", rescan=True)
    assert one.disciplines[0].concepts == 6 and one.disciplines[0].isolated_concepts == 0
