"""Debugger traceback of an evaluation run: the catalog queries, on a hand-built graph whose failure
rates are computed by hand below, then the same numbers through ``Knowledge.traceback_run``, the
Traceback RPC over a real channel, and ``proda debug traceback`` run as a user runs it.

The graph (economics unless noted)::

    A -causes-> B -decreases-> C      chain ch1 = A,B,C (e1, e2)      chunk k1 of "Toy economics"
    A -increases-> D                  chain ch2 = A,D (e3)            chunk k2 of "Tax primer"
    B -decreases-> C                  chain ch4 = B,C (e2 again)
    E -increases-> F                  chain ch5 = E,F (e5)            no chunk
    X -part_of-> Y  (biology)         chain ch3 = X,Y (e4)            chunk k3 of "Cells"

Run ``r1`` answered eight items (W: wrong, with the distractor operator chosen; C: correct)::

    i1 ch1 W INVREL   i2 ch1 C   i3 ch2 W TRUNC   i4 ch4 W INVREL
    i5 ch3 C          i6 ch3 W NEARMISS           i7 ch2 C          i8 ch5 W NEARMISS

``i9`` (on ch1) is not answered by r1; run ``r2`` answered only i1, correctly. Every item offers an
INVREL and a NEARMISS distractor; only i3, i4 and i8 offer a TRUNC one.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from proda.config import Settings
from proda.errors import InputError, NotFound
from proda.knowledge import (
    Deadline,
    Evidence,
    FailureNode,
    Knowledge,
    OperatorFailure,
    RunTraceback,
    RunTracebackRequest,
    validated,
)
from proda.schema import Chain, Chunk, Concept, Document, Relation
from proda.schema.store import FalkorDBStore, ServerInfo
from proda.schema.store.base import GraphStore
from proda.schema.store.writer import GraphWriter
from proda.services import convert
from proda.services.client import ProdaClient
from proda.services.server import BackgroundServer
from proda.v1 import knowledge_pb2 as kpb
from proda.v1.knowledge_pb2_grpc import KnowledgeServiceStub
from tests.console import proda
from tests.graphs import HAND, covers

RUN = "r1-toy-test-loglikelihood"
RUN_ID = "evr_r1"
ANSWERS: dict[str, tuple[str, bool, str | None]] = {  # item -> (chain, correct, chosen operator)
    "i1": ("ch1", False, "INVREL"), "i2": ("ch1", True, None), "i3": ("ch2", False, "TRUNC"),
    "i4": ("ch4", False, "INVREL"), "i5": ("ch3", True, None), "i6": ("ch3", False, "NEARMISS"),
    "i7": ("ch2", True, None), "i8": ("ch5", False, "NEARMISS"),
}


@dataclass
class Hand:
    """Ids of the hand-built graph's elements by their short names."""

    c: dict[str, str]
    e: dict[str, str]
    chunks: dict[str, str]
    docs: dict[str, str]


def hand_graph(store: GraphStore) -> Hand:
    """Write the graph of the module docstring, its items and the two runs."""
    docs = {"econ": Document(source_id="econ/toy", discipline="economics", title="Toy economics"),
            "tax": Document(source_id="econ/tax", discipline="economics", title="Tax primer"),
            "bio": Document(source_id="bio/cells", discipline="biology", title="Cells")}
    chunks = {"k1": Chunk(document_id=docs["econ"].id, ordinal=0, discipline="economics",
                          text="A causes B. B decreases C."),
              "k2": Chunk(document_id=docs["tax"].id, ordinal=0, discipline="economics", text="A increases D."),
              "k3": Chunk(document_id=docs["bio"].id, ordinal=0, discipline="biology", text="X is part of Y.")}
    mentions = {"A": ["k1", "k2"], "B": ["k1"], "C": ["k1"], "D": ["k2"], "X": ["k3"], "Y": ["k3"]}
    c = {n: Concept(name=n, discipline="biology" if n in "XY" else "economics",
                    chunk_ids=[chunks[k].id for k in mentions.get(n, [])], provenance=HAND) for n in "ABCDEFXY"}

    def rel(s: str, t: str, o: str, chunk: str | None) -> Relation:
        return Relation(type=t, subject_id=c[s].id, object_id=c[o].id, discipline=c[s].discipline,
                        evidence=f"{s} {t} {o}", chunk_id=chunks[chunk].id if chunk else "", provenance=HAND)

    e = {"e1": rel("A", "causes", "B", "k1"), "e2": rel("B", "decreases", "C", "k1"),
         "e3": rel("A", "increases", "D", "k2"), "e4": rel("X", "part_of", "Y", "k3"),
         "e5": rel("E", "increases", "F", None)}

    def chain(names: str, edges: list[str]) -> Chain:
        return Chain(discipline=c[names[0]].discipline, relation_ids=[e[x].id for x in edges],
                     concept_ids=[c[n].id for n in names], split="test", provenance=HAND)

    chains = {"ch1": chain("ABC", ["e1", "e2"]), "ch2": chain("AD", ["e3"]), "ch3": chain("XY", ["e4"]),
              "ch4": chain("BC", ["e2"]), "ch5": chain("EF", ["e5"])}
    GraphWriter(store).write([*docs.values(), *chunks.values(), *c.values(), *e.values(), *chains.values()])
    items = [{"id": i, "chain": chains[ch].id, "discipline": chains[ch].discipline,
              "operators": ["ANSWER", "INVREL", "NEARMISS", *(["TRUNC"] if i in ("i3", "i4", "i8") else [])]}
             for i, (ch, _, _) in [*ANSWERS.items(), ("i9", ("ch1", False, None))]]
    store.run("UNWIND $items AS it MATCH (ch:Chain {id: it.chain}) MATCH (o:Concept {id: $option}) "
              "CREATE (i:BenchmarkItem {id: it.id, benchmark: 'toy', discipline: it.discipline, split: 'test'}) "
              "CREATE (i)-[:TESTS]->(ch) "
              "FOREACH (op IN it.operators | CREATE (i)-[:OPTION {operator: op}]->(o))",
              {"items": items, "option": c["F"].id}, read_only=False)
    store.query("upsert_eval_run", {"id": RUN_ID, "props": {"name": RUN, "model": "tiny", "benchmark": "toy",
                                                            "split": "test", "mode": "loglikelihood"}})
    store.query("upsert_eval_run", {"id": "evr_r2", "props": {"name": "r2", "model": "tiny", "benchmark": "toy"}})
    store.query("upsert_eval_answers", {"run_id": RUN_ID, "rows": [
        {"item_id": i, "props": {"correct": ok, "chosen_operator": op, "parsed": True}}
        for i, (_, ok, op) in ANSWERS.items()]})
    store.query("upsert_eval_answers", {"run_id": "evr_r2", "rows": [
        {"item_id": "i1", "props": {"correct": True, "chosen_operator": None, "parsed": True}}]})
    return Hand(c={n: x.id for n, x in c.items()}, e={n: x.id for n, x in e.items()},
                chunks={n: x.id for n, x in chunks.items()}, docs={n: x.id for n, x in docs.items()})


def _stats(rows: list[dict[str, Any]], key: str) -> dict[Any, tuple[int, int, float]]:
    return {r[key]: (r["items"], r["wrong"], round(r["failure_rate"], 4)) for r in rows}


def _fooled(row: dict[str, Any]) -> dict[str, int]:
    return {f["operator"]: f["wrong"] for f in row["fooled_by"]}


def test_failure_rates_per_concept_edge_type_discipline_and_operator(store: GraphStore) -> None:
    covers("traceback_run_concepts", "traceback_run_edges", "traceback_run_relation_types",
           "traceback_run_disciplines", "traceback_run_operators", "eval_runs")
    h = hand_graph(store)
    name = {v: k for k, v in h.c.items()}
    args = {"run": RUN, "discipline": None, "min_support": 1, "limit": 20}

    concepts = store.query("traceback_run_concepts", args)
    assert {name[k]: v for k, v in _stats(concepts, "concept_id").items()} == {
        "A": (4, 2, 0.5), "B": (3, 2, 0.6667), "C": (3, 2, 0.6667), "D": (2, 1, 0.5), "E": (1, 1, 1.0),
        "F": (1, 1, 1.0), "X": (2, 1, 0.5), "Y": (2, 1, 0.5)}
    # worst first: rate, then wrong answers, then support
    assert [name[r["concept_id"]] for r in concepts][:4] in (["E", "F", "B", "C"], ["F", "E", "B", "C"],
                                                            ["E", "F", "C", "B"], ["F", "E", "C", "B"])
    assert name[concepts[4]["concept_id"]] == "A"  # 0.5 with the most wrong answers among the 0.5s
    a = next(r for r in concepts if r["concept_id"] == h.c["A"])
    assert _fooled(a) == {"INVREL": 1, "TRUNC": 1} and a["sample_item_id"] == "i1"
    lowest = min(h.chunks["k1"], h.chunks["k2"])  # A was harvested from two chunks: the lower id is shown
    assert (a["chunk_id"], a["document_title"]) == (lowest, "Toy economics" if lowest == h.chunks["k1"]
                                                    else "Tax primer")
    b = next(r for r in concepts if r["concept_id"] == h.c["B"])
    assert _fooled(b) == {"INVREL": 2} and b["chunk_text"] == "A causes B. B decreases C."
    e_row = next(r for r in concepts if r["concept_id"] == h.c["E"])
    assert e_row["chunk_id"] is None and e_row["document_title"] is None  # no source chunk: no evidence

    edges = store.query("traceback_run_edges", args)
    edge_name = {v: k for k, v in h.e.items()}
    assert {edge_name[k]: v for k, v in _stats(edges, "relation_id").items()} == {
        "e1": (2, 1, 0.5), "e2": (3, 2, 0.6667), "e3": (2, 1, 0.5), "e4": (2, 1, 0.5), "e5": (1, 1, 1.0)}
    assert [edge_name[r["relation_id"]] for r in edges][:2] == ["e5", "e2"]
    e2 = edges[1]
    assert (e2["relation_type"], e2["subject_name"], e2["object_name"]) == ("decreases", "B", "C")
    assert (e2["evidence"], e2["document_title"], e2["chunk_id"]) == ("B decreases C", "Toy economics", h.chunks["k1"])
    assert _fooled(e2) == {"INVREL": 2} and e2["sample_item_id"] == "i1"

    types = store.query("traceback_run_relation_types", args)
    assert {r["relation_type"]: (r["items"], r["wrong"], round(r["failure_rate"], 4), r["edges"]) for r in types} == {
        "increases": (3, 2, 0.6667, 2), "decreases": (3, 2, 0.6667, 1), "causes": (2, 1, 0.5, 1),
        "part_of": (2, 1, 0.5, 1)}
    assert _fooled(next(r for r in types if r["relation_type"] == "increases")) == {"TRUNC": 1, "NEARMISS": 1}

    disciplines = store.query("traceback_run_disciplines", args)
    assert _stats(disciplines, "discipline") == {"economics": (6, 4, 0.6667), "biology": (2, 1, 0.5)}
    assert [r["discipline"] for r in disciplines] == ["economics", "biology"]
    assert _fooled(disciplines[0]) == {"INVREL": 2, "TRUNC": 1, "NEARMISS": 1} and disciplines[0]["unparseable"] == 0

    operators = store.query("traceback_run_operators", args)
    assert {r["operator"]: (r["offered"], r["fooled"], round(r["fooled_rate"], 4)) for r in operators} == {
        "INVREL": (8, 2, 0.25), "NEARMISS": (8, 2, 0.25), "TRUNC": (3, 1, 0.3333)}
    assert operators[0]["operator"] == "TRUNC" and operators[0]["sample_item_id"] == "i3"

    runs = store.query("eval_runs", {"run": None, "limit": 10})
    assert {r["name"]: (r["items"], r["wrong"]) for r in runs} == {RUN: (8, 5), "r2": (1, 0)}
    assert store.query("eval_runs", {"run": RUN_ID, "limit": 10})[0]["accuracy"] == pytest.approx(3 / 8)


def test_min_support_discipline_filter_limit_and_run_isolation(store: GraphStore) -> None:
    h = hand_graph(store)
    name = {v: k for k, v in h.c.items()}

    def q(query: str, **params: Any) -> list[dict[str, Any]]:
        return store.query(query, {"run": RUN, "discipline": None, "min_support": 1, "limit": 20, **params})

    assert {name[r["concept_id"]] for r in q("traceback_run_concepts", min_support=3)} == {"A", "B", "C"}
    assert {r["relation_type"] for r in q("traceback_run_relation_types", min_support=3)} == {"increases",
                                                                                             "decreases"}
    assert [r["operator"] for r in q("traceback_run_operators", min_support=4)] == ["INVREL", "NEARMISS"]
    assert q("traceback_run_edges", min_support=4) == []
    biology = q("traceback_run_concepts", discipline="biology")
    assert {name[r["concept_id"]]: (r["items"], r["wrong"]) for r in biology} == {"X": (2, 1), "Y": (2, 1)}
    economics_ops = q("traceback_run_operators", discipline="economics")
    assert {r["operator"]: (r["offered"], r["fooled"]) for r in economics_ops} == {
        "INVREL": (6, 2), "NEARMISS": (6, 1), "TRUNC": (3, 1)}
    assert q("traceback_run_disciplines", discipline="physics") == []
    assert len(q("traceback_run_edges", limit=2)) == 2
    # by id as well as by name; the other run's answers never leak in
    assert _stats(q("traceback_run_disciplines", run=RUN_ID), "discipline")["economics"] == (6, 4, 0.6667)
    assert _stats(q("traceback_run_disciplines", run="r2"), "discipline") == {"economics": (1, 0, 0.0)}
    assert q("traceback_run_concepts", run="no-such-run") == []


def test_knowledge_traceback_run_summarises_and_names_what_is_missing(store: GraphStore) -> None:
    h = hand_graph(store)
    knowledge = Knowledge(store)
    deadline = Deadline.after(None, 60_000)
    trace = knowledge.traceback_run(validated(RunTracebackRequest, run=RUN, min_support=2, top=3), deadline)
    assert (trace.run_id, trace.run_name, trace.items, trace.wrong) == (RUN_ID, RUN, 8, 5)
    assert [n.label for n in trace.disciplines] == ["economics", "biology"]
    assert (trace.relations[0].label, trace.relations[0].items, trace.relations[0].wrong) == ("B -decreases-> C", 3, 2)
    assert len(trace.concepts) == 3 and all(n.items >= 2 for n in trace.concepts)
    worst = trace.concepts[0]
    assert worst.kind == "concept" and worst.failure_rate == pytest.approx(2 / 3)
    assert worst.evidence is not None and worst.evidence.document_title == "Toy economics"
    first_operator = trace.operators[0]
    assert (first_operator.operator, first_operator.offered, first_operator.fooled) == ("TRUNC", 3, 1)
    assert dict(trace.concepts[0].fooled_by) == {"INVREL": 2}
    assert h.c["B"] in {n.id for n in trace.concepts}

    with pytest.raises(NotFound, match="no evaluation run 'nope'"):
        knowledge.traceback_run(validated(RunTracebackRequest, run="nope"), deadline)
    clean = knowledge.traceback_run(validated(RunTracebackRequest, run="r2"), deadline)
    assert (clean.items, clean.wrong, clean.concepts) == (1, 0, ())
    empty = knowledge.traceback_run(validated(RunTracebackRequest, run=RUN, discipline="physics"), deadline)
    assert (empty.items, empty.wrong) == (0, 0)
    with pytest.raises(InputError, match="min_support"):
        validated(RunTracebackRequest, run=RUN, min_support=0)


def test_traceback_rpc_traces_a_run_over_a_real_channel(falkordb_store: FalkorDBStore, tmp_path: Path) -> None:
    hand_graph(falkordb_store)
    local = Knowledge(falkordb_store).traceback_run(validated(RunTracebackRequest, run=RUN, discipline="economics"),
                                                    Deadline.after(None, 60_000))
    settings = Settings(home=tmp_path, grpc_port=0)
    with BackgroundServer(settings, falkordb_store) as server, grpc.insecure_channel(server.address) as channel, \
            ProdaClient(server.address) as client:
        stub = KnowledgeServiceStub(channel)
        response = stub.Traceback(kpb.TracebackRequest(eval_run_id=RUN_ID, min_support=3, top=2), timeout=30)
        assert (response.eval_run.name, response.eval_run.answered_items, response.eval_run.wrong_items) == (RUN, 8, 5)
        assert (response.item_id, response.benchmark) == ("", "toy")
        kinds = [kpb.TracebackNodeKind.Name(n.kind).removeprefix("TRACEBACK_NODE_KIND_") for n in response.nodes]
        assert kinds == ["DISCIPLINE", "RELATION_TYPE", "RELATION_TYPE", "CONCEPT", "CONCEPT", "RELATION"]
        edge = response.nodes[-1]
        assert (edge.label, edge.failures.answered_items, edge.failures.wrong_items) == ("B -decreases-> C", 3, 2)
        assert edge.failures.failure_rate == pytest.approx(2 / 3) and edge.evidence.text == "B decreases C"
        assert [(c.operator, c.count) for c in edge.failures.fooled_by] == [("INVREL", 2)]
        assert [o.operator for o in response.operators] == ["TRUNC", "INVREL"]  # top 2 of the three
        # the typed client gets the same domain answer as a local call
        assert client.traceback_run(RUN, discipline="economics") == local

        def code(request: kpb.TracebackRequest) -> grpc.StatusCode:
            with pytest.raises(grpc.RpcError) as caught:
                stub.Traceback(request, timeout=30)
            return caught.value.code()  # type: ignore[no-any-return]  # raised calls are grpc.Call objects

        assert code(kpb.TracebackRequest(eval_run_id="evr_nope")) == grpc.StatusCode.NOT_FOUND
        assert code(kpb.TracebackRequest(eval_run_id=RUN, top=5000)) == grpc.StatusCode.INVALID_ARGUMENT
        assert code(kpb.TracebackRequest(eval_run_id=RUN, min_support=-1)) == grpc.StatusCode.INVALID_ARGUMENT
        assert code(kpb.TracebackRequest(item_id="i1", discipline="economics")) == grpc.StatusCode.INVALID_ARGUMENT


def test_run_traceback_survives_the_wire_both_ways() -> None:
    node = FailureNode("relation", "rel_1", "a -causes-> b", "economics", 3, 2, 2 / 3, (("INVREL", 2),), "i1",
                       Evidence("a causes b", "chk_1", "A causes B.", "doc_1", "Doc"))
    bare = FailureNode("relation_type", "causes", "causes", "", 3, 1, 1 / 3, (), "")
    trace = RunTraceback("evr_1", "run", "tiny", "toy", "test", "economics", 8, 5, relation_types=(bare,),
                         relations=(node,), operators=(OperatorFailure("TRUNC", 3, 1, 1 / 3, "i3"),))
    assert convert.run_traceback_from_proto(convert.run_traceback_to_proto(trace)) == trace
    request = validated(RunTracebackRequest, run="evr_1", discipline="economics", min_support=2, top=5)
    assert convert.run_traceback_request(convert.run_traceback_request_to_proto(request)) == request


def _cli(*args: str, store: FalkorDBStore, info: ServerInfo, home: Path) -> subprocess.CompletedProcess[str]:
    return proda(*args, home=home, graph=store.graph_name,
                 url=f"falkordb://:{info.password or ''}@127.0.0.1:{info.port}")


def test_debug_traceback_cli(falkordb_store: FalkorDBStore, falkordb_server: ServerInfo, proda_home: Path) -> None:
    hand_graph(falkordb_store)
    shown = _cli("debug", "traceback", "--run", RUN, "--top", "3", store=falkordb_store, info=falkordb_server,
                 home=proda_home)
    assert shown.returncode == 0, shown.stderr
    for text in ("8 answered item(s), 5 wrong (62.5%)", "worst concepts", "worst relations", "INVREL 2",
                 "Toy economics", "which distractor operator fooled the model",
                 f"proda query traceback_run_concepts -p run={RUN_ID}"):
        assert text in shown.stdout, text
    as_json = _cli("debug", "traceback", "-r", RUN_ID, "-d", "economics", "-k", "2", "--min-support", "3", "--json",
                   store=falkordb_store, info=falkordb_server, home=proda_home)
    assert as_json.returncode == 0, as_json.stderr
    trace = json.loads(as_json.stdout)
    assert (trace["items"], trace["wrong"], trace["discipline"]) == (6, 4, "economics")
    assert [n["label"] for n in trace["relations"]] == ["B -decreases-> C"]
    assert [(n["items"], n["wrong"]) for n in trace["concepts"]] == [(3, 2), (3, 2)]
    missing = _cli("debug", "traceback", "--run", "no-such-run", store=falkordb_store, info=falkordb_server,
                   home=proda_home)
    assert missing.returncode == 4 and "no evaluation run 'no-such-run'" in missing.stderr
    clean = _cli("debug", "traceback", "--run", "r2", store=falkordb_store, info=falkordb_server, home=proda_home)
    assert clean.returncode == 0 and "no wrong answers" in clean.stdout
    helped = _cli("debug", "traceback", "--help", store=falkordb_store, info=falkordb_server, home=proda_home)
    assert helped.returncode == 0 and "--min-support" in helped.stdout and "NEARMISS" in helped.stdout
