"""KnowledgeService over a real in-process gRPC server (port 0, real channel) on the toy graph.

Every RPC's answer is checked against what the graph holds, and every error against its status
code; the deadline tests check that the call's deadline reaches the database as its time limit.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from proda.config import Settings
from proda.errors import QueryError, QueryTimeout
from proda.schema import Concept
from proda.schema.catalog import Catalog, Query, default_catalog
from proda.schema.store import FalkorDBStore, ServerInfo
from proda.schema.store.base import Row
from proda.schema.store.writer import GraphWriter
from proda.services.client import ProdaClient
from proda.services.server import BackgroundServer
from proda.v1 import knowledge_pb2 as kpb
from proda.v1.knowledge_pb2_grpc import KnowledgeServiceStub
from tests.graphs import HAND, Toy, covers, load_toy

ITEMS = ("itm_toy_a", "itm_toy_b")


@dataclass
class Served:
    toy: Toy
    stub: KnowledgeServiceStub
    client: ProdaClient


# not conftest's falkordb_store: graphs here outlive one test (module-scoped server) or carry their own catalog
def _graph(info: ServerInfo, catalog: Catalog | None = None) -> FalkorDBStore:
    store = FalkorDBStore("127.0.0.1", info.port, f"grpc_{uuid.uuid4().hex[:10]}", password=info.password,
                          catalog=catalog)
    store.ensure_schema()
    return store


@pytest.fixture(scope="module")
def served(falkordb_server: ServerInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The toy graph plus two benchmark items on its chain, a merged duplicate and a non-ASCII concept."""
    store = _graph(falkordb_server)
    toy = load_toy(store)
    GraphWriter(store).write([Concept(name="énergie", discipline="physics", provenance=HAND),
                              *(Concept(name=f"alpha {i}", discipline="economics", provenance=HAND) for i in range(5))])
    store.run("MATCH (ch:Chain {id: $chain}) UNWIND $items AS item "
              "CREATE (:BenchmarkItem {id: item, benchmark: 'toy'})-[:TESTS]->(ch)",
              {"chain": toy.chain.id, "items": list(ITEMS)}, read_only=False)
    store.run("MATCH (d:Concept {id: $dup}) SET d.merged_into = $canonical",
              {"dup": toy.c["supply curves"].id, "canonical": toy.c["supply curve"].id}, read_only=False)
    settings = Settings(home=tmp_path_factory.mktemp("grpc-knowledge"), grpc_port=0, grpc_row_limit=50)
    with BackgroundServer(settings, store) as server, grpc.insecure_channel(server.address) as channel, \
            ProdaClient(server.address) as client:
        yield Served(toy, KnowledgeServiceStub(channel), client)
    store.clear()
    store.close()


def code_of(call: Callable[[], object]) -> grpc.StatusCode:
    """The status a call fails with (the test fails if it succeeds)."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code()  # type: ignore[no-any-return]  # RpcError raised by calls is a grpc.Call


def test_concept_degrees_agree_with_pattern_counts(falkordb_server: ServerInfo) -> None:
    """The FalkorDB variant of ``concept`` reads degrees from the adjacency (indegree/outdegree); they
    must equal the pattern counts the Neo4j variant computes, parallel edges and self-loops included."""
    covers("concept")
    store = _graph(falkordb_server)
    try:
        names = [f"node {i}" for i in range(5)]
        concepts = [Concept(name=n, discipline="economics", provenance=HAND) for n in names]
        GraphWriter(store).write(concepts)
        ids = [c.id for c in concepts]
        edges = [(0, 1), (0, 1), (0, 2), (1, 0), (2, 2), (3, 0), (4, 0)]
        store.run("UNWIND $edges AS e MATCH (a:Concept {id: e[0]}), (b:Concept {id: e[1]}) "
                  "CREATE (a)-[:RELATION {id: 'rel_' + e[0] + e[1]}]->(b)",
                  {"edges": [[ids[a], ids[b]] for a, b in edges]}, read_only=False)
        store.run("UNWIND $steps AS s MATCH (c:Concept {id: s[1]}) MERGE (ch:Chain {id: s[0]}) "
                  "CREATE (ch)-[:HAS_STEP {pos: s[2]}]->(c)",
                  {"steps": [["chn_a", ids[0], 0], ["chn_a", ids[0], 1], ["chn_b", ids[0], 0], ["chn_b", ids[3], 1]]},
                  read_only=False)
        for cid in ids:
            got = store.query("concept", {"id": cid})[0]
            want = store.run("MATCH (c:Concept {id: $id}) RETURN size([(c)-[:RELATION]->() | 1]) AS o, "
                             "size([(c)<-[:RELATION]-() | 1]) AS i, size([(c)<-[:HAS_STEP]-(:Chain) | 1]) AS s",
                             {"id": cid})[0]
            assert (got["out_degree"], got["in_degree"], got["chains"]) == (want["o"], want["i"], want["s"]), cid
        assert store.query("concept", {"id": ids[0]})[0]["out_degree"] == 3  # the test graph is not trivial
        assert store.query("concept", {"id": ids[0]})[0]["chains"] == 3
    finally:
        store.clear()
        store.close()


def test_get_concept_answers_the_card_and_precise_errors(served: Served) -> None:
    covers("concept")
    price = served.toy.c["price"]
    card = served.stub.GetConcept(kpb.GetConceptRequest(id=price.id), timeout=10).concept
    assert (card.id, card.name, card.discipline) == (price.id, "price", "economics")
    assert (card.out_degree, card.in_degree, card.chain_count) == (1, 1, 1)
    assert list(card.chunk_ids) == [served.toy.chunk.id]
    assert served.client.get_concept(price.id).chains == 1  # the typed client reads the same answer
    assert code_of(lambda: served.stub.GetConcept(kpb.GetConceptRequest(id="con_missing"))) == grpc.StatusCode.NOT_FOUND
    assert code_of(lambda: served.stub.GetConcept(kpb.GetConceptRequest())) == grpc.StatusCode.INVALID_ARGUMENT
    too_long = kpb.GetConceptRequest(id="x" * 300)
    assert code_of(lambda: served.stub.GetConcept(too_long)) == grpc.StatusCode.INVALID_ARGUMENT


def test_search_pages_by_token_and_resolves_merged_names(served: Served) -> None:
    covers("concept_search")
    pages, token = [], ""
    while True:
        response = served.stub.SearchConcepts(kpb.SearchConceptsRequest(query="Alpha", page_size=2, page_token=token))
        pages.append([m.matched_name for m in response.matches])
        token = response.next_page_token
        if not token:
            break
    assert pages == [["alpha 0", "alpha 1"], ["alpha 2", "alpha 3"], ["alpha 4"]]

    supply = served.stub.SearchConcepts(kpb.SearchConceptsRequest(query="supply curves")).matches
    canonical = served.toy.c["supply curve"].id
    assert {(m.matched_name, m.concept.id) for m in supply} == {("supply curve", canonical),
                                                                ("supply curves", canonical)}
    assert [m.concept.name for m in served.client.search_concepts("énerg")] == ["énergie"]
    assert not served.stub.SearchConcepts(kpb.SearchConceptsRequest(query="alpha", discipline="biology")).matches

    first = served.stub.SearchConcepts(kpb.SearchConceptsRequest(query="alpha", page_size=1))
    other_query = kpb.SearchConceptsRequest(query="supply", page_token=first.next_page_token)
    assert code_of(lambda: served.stub.SearchConcepts(other_query)) == grpc.StatusCode.INVALID_ARGUMENT
    for bad in (kpb.SearchConceptsRequest(query="alpha", page_token="garbage!"), kpb.SearchConceptsRequest(query=""),
                kpb.SearchConceptsRequest(query="..."), kpb.SearchConceptsRequest(query="a", page_size=500)):
        assert code_of(lambda bad=bad: served.stub.SearchConcepts(bad)) == grpc.StatusCode.INVALID_ARGUMENT


def test_neighbours_follow_direction_type_and_depth(served: Served) -> None:
    covers("concept_step")
    c = served.toy.c
    price = c["price"].id

    def names(**fields: Any) -> dict[str, int]:
        response = served.stub.GetNeighbors(kpb.GetNeighborsRequest(concept_id=price, **fields))
        return {n.concept.name: n.depth for n in response.neighbors}

    assert names() == {"demand": 1, "tax": 1}
    assert names(direction=kpb.DIRECTION_OUTGOING) == {"demand": 1}
    assert names(direction=kpb.DIRECTION_INCOMING) == {"tax": 1}
    assert names(direction=kpb.DIRECTION_OUTGOING, depth=3) == {"demand": 1, "surplus": 2}
    assert names(relation_types=["decreases"], depth=2) == {"demand": 1}
    far = served.client.neighbours(price, direction="out", depth=2).neighbours[-1]
    assert far.concept.name == "surplus" and [r.type for r in far.path] == ["decreases", "causes"]
    assert far.path[-1].subject_id == c["demand"].id and far.path[-1].evidence == "demand causes surplus"
    cut = served.stub.GetNeighbors(kpb.GetNeighborsRequest(concept_id=price, limit=1))
    assert len(cut.neighbors) == 1 and cut.truncated

    missing = kpb.GetNeighborsRequest(concept_id="con_missing")
    assert code_of(lambda: served.stub.GetNeighbors(missing)) == grpc.StatusCode.NOT_FOUND
    # a concept that exists but has no neighbours (at all, or none of the asked type) answers empty, not NOT_FOUND
    alone = Concept(name="alpha 0", discipline="economics", provenance=HAND).id  # the fixture's, with no relation
    for request in (kpb.GetNeighborsRequest(concept_id=price, relation_types=["example_of"]),
                    kpb.GetNeighborsRequest(concept_id=alone)):
        empty = served.stub.GetNeighbors(request)
        assert list(empty.neighbors) == [] and not empty.truncated
    for bad in (kpb.GetNeighborsRequest(concept_id=price, depth=4), kpb.GetNeighborsRequest(concept_id=price, limit=-1),
                kpb.GetNeighborsRequest(concept_id=price, relation_types=["teleports"]),
                kpb.GetNeighborsRequest(concept_id=price, direction=42), kpb.GetNeighborsRequest()):
        assert code_of(lambda bad=bad: served.stub.GetNeighbors(bad)) == grpc.StatusCode.INVALID_ARGUMENT


def test_get_chain_lists_steps_with_evidence_and_source(served: Served) -> None:
    covers("chain_detail")
    chain = served.stub.GetChain(kpb.GetChainRequest(id=served.toy.chain.id)).chain
    assert [s.concept.name for s in chain.steps] == ["price", "demand", "surplus"]
    assert [s.relation.type for s in chain.steps if s.HasField("relation")] == ["decreases", "causes"]
    assert chain.steps[0].relation.object_id == served.toy.c["demand"].id
    assert chain.steps[0].document_title == "Toy economics" and not chain.steps[2].HasField("relation")
    assert served.client.chain(served.toy.chain.id).steps[1].relation is not None
    assert code_of(lambda: served.stub.GetChain(kpb.GetChainRequest(id="chn_missing"))) == grpc.StatusCode.NOT_FOUND


def test_traceback_walks_item_to_documents_with_item_counts(served: Served) -> None:
    covers("traceback_item")
    response = served.stub.Traceback(kpb.TracebackRequest(item_id=ITEMS[0]))
    assert (response.benchmark, response.chain_id) == ("toy", served.toy.chain.id)
    nodes = [(kpb.TracebackNodeKind.Name(n.kind).rsplit("_", 1)[1].lower(), n.label, n.benchmark_items)
             for n in response.nodes]
    assert nodes == [("concept", "price", 2), ("relation", "decreases", 2), ("chunk", "", 0),
                     ("document", "Toy economics", 0), ("concept", "demand", 2), ("relation", "causes", 2),
                     ("concept", "surplus", 2)]
    assert served.client.traceback_item(ITEMS[1]).nodes[0].benchmark_items == 2
    eval_run = kpb.TracebackRequest(eval_run_id="run_1")
    assert code_of(lambda: served.stub.Traceback(eval_run)) == grpc.StatusCode.NOT_FOUND
    item_with_run_filters = kpb.TracebackRequest(item_id=ITEMS[0], min_support=2)
    assert code_of(lambda: served.stub.Traceback(item_with_run_filters)) == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(lambda: served.stub.Traceback(kpb.TracebackRequest())) == grpc.StatusCode.INVALID_ARGUMENT
    missing = kpb.TracebackRequest(item_id="itm_missing")
    assert code_of(lambda: served.stub.Traceback(missing)) == grpc.StatusCode.NOT_FOUND


def test_named_queries_list_only_read_queries_in_pages(served: Served) -> None:
    names, token = [], ""
    while True:
        response = served.stub.ListNamedQueries(kpb.ListNamedQueriesRequest(page_size=7, page_token=token))
        names += [q.name for q in response.queries]
        token = response.next_page_token
        if not token:
            break
    assert names == sorted(q.name for q in default_catalog() if q.read_only)
    neighbours = next(q for q in served.client.named_queries() if q.name == "concept_neighbours")
    assert [(p.name, p.type, p.required) for p in neighbours.parameters] == [
        ("id", "string", True), ("type", "string", False), ("limit", "int", False)]
    assert neighbours.parameters[2].default_value.int_value == 100


def test_run_named_query_types_params_caps_rows_and_refuses_writes(served: Served) -> None:
    covers("concept_aliases")
    price = served.toy.c["price"].id
    result = served.client.run_named_query("concept_neighbours", {"id": price, "limit": "1"})
    assert result.columns[:3] == ("direction", "type", "neighbour_id") and len(result.rows) == 1
    capped = served.client.run_named_query("concept_aliases", {"discipline": "economics"}, row_limit=3)
    assert len(capped.rows) == 3 and capped.truncated
    whole = served.client.run_named_query("concept_aliases", {"discipline": "economics"})
    assert len(whole.rows) == 13 and not whole.truncated

    def run(name: str, **params: Any) -> Callable[[], object]:
        request = kpb.RunNamedQueryRequest(name=name)
        for key, value in params.items():
            request.parameters[key].CopyFrom(value)
        return lambda: served.stub.RunNamedQuery(request)

    from proda.services.convert import to_value

    assert code_of(run("nope")) == grpc.StatusCode.NOT_FOUND
    assert code_of(run("upsert_concepts", rows=to_value([]))) == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(run("concept_neighbours")) == grpc.StatusCode.INVALID_ARGUMENT  # id is required
    for bad in ({"limit": to_value("ten")}, {"bogus": to_value(1)}, {"limit": to_value(float("nan"))}):
        assert code_of(run("concept_neighbours", id=to_value(price), **bad)) == grpc.StatusCode.INVALID_ARGUMENT


# --------------------------------------------------------------------------------------------------
# deadlines
# --------------------------------------------------------------------------------------------------
SLOW = Query(name="slow_triples", purpose="test only: a cartesian product that runs until stopped",
             params=(), columns=("n",), mode="read", texts={"common": (
                 "MATCH (a:Filler), (b:Filler), (c:Filler) WHERE a.v < b.v AND b.v < c.v RETURN count(*) AS n")})


class RecordingStore(FalkorDBStore):
    """Records the time limit every query was given and how it ended."""

    calls: list[tuple[int | None, str]]

    def run(self, cypher: str, params: Mapping[str, Any] | None = None, *, read_only: bool = True,
            timeout_ms: int | None = None) -> list[Row]:
        try:
            rows = super().run(cypher, params, read_only=read_only, timeout_ms=timeout_ms)
        except QueryTimeout:
            self.calls.append((timeout_ms, "timeout"))
            raise
        self.calls.append((timeout_ms, "ok"))
        return rows


@pytest.fixture
def slow_store(falkordb_server: ServerInfo) -> Iterator[RecordingStore]:
    catalog = Catalog({**{q.name: q for q in default_catalog()}, SLOW.name: SLOW})
    store = RecordingStore("127.0.0.1", falkordb_server.port, f"grpc_slow_{uuid.uuid4().hex[:8]}",
                           password=falkordb_server.password, catalog=catalog)
    store.calls = []
    store.run("UNWIND range(1, 400) AS v CREATE (:Filler {v: v})", read_only=False)
    store.calls.clear()
    yield store
    store.clear()
    store.close()


def test_call_deadline_becomes_the_database_time_limit(slow_store: RecordingStore, tmp_path: Any) -> None:
    settings = Settings(home=tmp_path, grpc_port=0)  # server cap: the default 60 s
    with BackgroundServer(settings, slow_store) as server, grpc.insecure_channel(server.address) as channel:
        stub = KnowledgeServiceStub(channel)
        started = time.monotonic()
        code = code_of(lambda: stub.RunNamedQuery(kpb.RunNamedQueryRequest(name=SLOW.name), timeout=0.5))
        assert code == grpc.StatusCode.DEADLINE_EXCEEDED
        # the database was told to stop at the deadline: the query ends as a timeout by itself, long
        # before the server's own 60 s cap, instead of running on after the caller gave up
        while not slow_store.calls and time.monotonic() - started < 20:
            time.sleep(0.05)
    limit, outcome = slow_store.calls[0]
    assert outcome == "timeout" and limit is not None and limit <= 500


def test_server_cap_answers_deadline_exceeded(slow_store: RecordingStore, tmp_path: Any) -> None:
    settings = Settings(home=tmp_path, grpc_port=0, query_timeout_ms=200)
    with BackgroundServer(settings, slow_store) as server, grpc.insecure_channel(server.address) as channel, \
            pytest.raises(grpc.RpcError) as caught:
        KnowledgeServiceStub(channel).RunNamedQuery(kpb.RunNamedQueryRequest(name=SLOW.name), timeout=30)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "200 ms" in (caught.value.details() or "")
    assert slow_store.calls == [(200, "timeout")]


# --------------------------------------------------------------------------------------------------
# errors: the caller's fault is INVALID_ARGUMENT in ProDa's words; the server's is INTERNAL with an id
# --------------------------------------------------------------------------------------------------
# what the graph engine's own error text looks like (FalkorDB's parser quotes the parameter header)
ENGINE_TEXT = ("errMsg", "errCtx", "CYPHER", "FalkorDB", "line: 1", "Type mismatch", "operates only on")


def details_of(call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    """The status and details a call fails with (the test fails if it succeeds)."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code(), caught.value.details() or ""  # type: ignore[attr-defined]  # a grpc.Call


def test_a_nul_in_an_id_is_refused_in_prodas_words_naming_the_field(served: Served) -> None:
    from proda.services.convert import to_value

    nul = "con_\x00x"
    named = kpb.RunNamedQueryRequest(name="concept_neighbours")
    named.parameters["id"].CopyFrom(to_value(nul))
    for call, field in (
            (lambda: served.stub.GetConcept(kpb.GetConceptRequest(id=nul)), "id"),
            (lambda: served.stub.GetNeighbors(kpb.GetNeighborsRequest(concept_id=nul)), "concept_id"),
            (lambda: served.stub.GetChain(kpb.GetChainRequest(id=nul)), "id"),
            (lambda: served.stub.Traceback(kpb.TracebackRequest(item_id=nul)), "item_id"),
            (lambda: served.stub.Traceback(kpb.TracebackRequest(eval_run_id=nul)), "eval_run_id"),
            (lambda: served.stub.SearchConcepts(kpb.SearchConceptsRequest(query="price", discipline=nul)),
             "discipline"),
            (lambda: served.stub.RunNamedQuery(named), "parameter 'id'")):
        code, details = details_of(call)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (field, details)
        assert details.startswith(f"{field}: ") and "NUL character" in details, details
        assert not any(marker in details for marker in ENGINE_TEXT), details


def test_named_query_parameters_are_typed_strictly_by_the_header(served: Served) -> None:
    from proda.services.convert import to_value

    price = served.toy.c["price"].id

    def run(**params: Any) -> Callable[[], object]:
        request = kpb.RunNamedQueryRequest(name="concept_neighbours")
        for key, value in params.items():
            request.parameters[key].CopyFrom(to_value(value))
        return lambda: served.stub.RunNamedQuery(request)

    for params, said in (({"id": price, "limit": 2.5}, "parameter 'limit' must be int: got a float (2.5)"),
                         ({"id": [price]}, "parameter 'id' must be string: got a list"),
                         ({"id": price, "limit": True}, "parameter 'limit' must be int: got a boolean (true)"),
                         ({"id": 7}, "parameter 'id' must be string: got an integer (7)"),
                         ({"id": price, "type": {"a": 1}}, "parameter 'type' must be string: got a map"),
                         ({"id": price, "limit": -1}, "parameter 'limit' counts rows: -1 is negative")):
        code, details = details_of(run(**params))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and said in details, (params, details)
    # what is exact is taken: the text form (as `proda query` sends it) and a double holding an integer
    assert len(served.stub.RunNamedQuery(kpb.RunNamedQueryRequest(name="concept_neighbours", parameters={
        "id": to_value(price), "limit": to_value(1.0)})).rows) == 1
    assert len(served.client.run_named_query("concept_neighbours", {"id": price, "limit": "1"}).rows) == 1
    # null is "not given": the header's default (100) applies
    assert len(served.stub.RunNamedQuery(kpb.RunNamedQueryRequest(name="concept_neighbours", parameters={
        "id": to_value(price), "limit": to_value(None)})).rows) == 2


def test_a_refused_list_parameter_is_the_callers_fault_and_quotes_the_header(served: Served) -> None:
    from proda.services.convert import to_value

    # bench_invrel takes rows of maps; a list of lists is typed right (a list) but holds the wrong things
    request = kpb.RunNamedQueryRequest(name="bench_invrel")
    request.parameters["rows"].CopyFrom(to_value([[1, 2]]))
    code, details = details_of(lambda: served.stub.RunNamedQuery(request))
    assert code == grpc.StatusCode.INVALID_ARGUMENT, details
    assert "query bench_invrel: the database refused what parameter(s) 'rows' hold" in details
    assert "rows: list - maps {" in details and not any(marker in details for marker in ENGINE_TEXT)


BROKEN = Query(name="broken_totals", purpose="test only: a catalog query the database cannot parse",
               params=(), columns=("n",), mode="read", texts={"common": "MATCH (n:Concept) RETURN count(n AS n"})


@pytest.fixture
def broken_store(falkordb_server: ServerInfo) -> Iterator[FalkorDBStore]:
    """A graph whose catalog holds a query the database refuses whatever its parameters, and a
    ``concept`` query broken the same way (what a bad deployment of the catalog would look like)."""
    concept = default_catalog().get("concept")
    broken_concept = Query(name="concept", purpose=concept.purpose, params=concept.params, columns=concept.columns,
                           mode="read", texts={"common": "MATCH (c:Concept {id: $id}) RETURN c.id AS id,"})
    catalog = Catalog({**{q.name: q for q in default_catalog()}, BROKEN.name: BROKEN, "concept": broken_concept})
    store = _graph(falkordb_server, catalog)
    yield store
    store.clear()
    store.close()


def test_a_query_the_database_refuses_for_the_servers_fault_is_internal_with_an_error_id(
        broken_store: FalkorDBStore, tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    import re

    caplog.set_level(logging.ERROR, logger="proda.services.rpc")
    settings = Settings(home=tmp_path, grpc_port=0)
    with BackgroundServer(settings, broken_store) as server, grpc.insecure_channel(server.address) as channel:
        stub = KnowledgeServiceStub(channel)
        answers = [details_of(lambda: stub.RunNamedQuery(kpb.RunNamedQueryRequest(name=BROKEN.name))),
                   details_of(lambda: stub.GetConcept(kpb.GetConceptRequest(id="con_price")))]
    for code, details in answers:
        assert code == grpc.StatusCode.INTERNAL, details
        assert not any(marker in details for marker in ENGINE_TEXT), details
        [error_id] = re.findall(r"error id (err_[0-9a-f]{16})", details)
        # the server log has the error under that id, with its traceback
        [record] = [r for r in caplog.records if error_id in r.getMessage()]
        assert record.exc_info is not None and record.exc_info[0] is QueryError
        assert "Traceback (most recent call last)" in caplog.text
