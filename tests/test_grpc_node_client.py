"""A JavaScript client of the gRPC services, over a real channel to a real server on the toy graph.

Services in other languages are ProDa's first users. ``tests/clients/node/call.mjs`` is written as a
Node.js service would write its client: ``@grpc/grpc-js`` with the ``.proto`` files of ``proto/``
loaded at run time by ``@grpc/proto-loader`` (no generated code), health checks through the proto of
``grpc-health-check`` and reflection through the protos of ``@grpc/reflection``. What it receives is
compared with what the Python stubs receive from the same server, in proto3's JSON mapping (64-bit
integers as strings, enums by name), so a field that one language reads differently fails here.

``make test`` installs the client's packages (``npm ci``, versions pinned by its lock file); the tests
are skipped, with the reason, only where Node.js or those packages are not installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import Descriptor
from google.protobuf.duration_pb2 import Duration
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from proda.config import Settings
from proda.schema.store import FalkorDBStore, ServerInfo
from proda.services.server import BackgroundServer
from proda.v1 import knowledge_pb2 as kpb
from proda.v1 import operations_pb2 as opb
from proda.v1 import values_pb2 as vpb
from proda.v1.knowledge_pb2_grpc import KnowledgeServiceStub
from proda.v1.operations_pb2_grpc import OperationsServiceStub
from tests.graphs import Toy, load_toy

ROOT = Path(__file__).resolve().parents[1]
CLIENT = ROOT / "tests" / "clients" / "node"
TOKEN = "node-client-secret"
KNOWLEDGE = "proda.v1.KnowledgeService"
AUTH = (("authorization", f"Bearer {TOKEN}"),)


def _node_missing() -> str | None:
    if shutil.which("node") is None:
        return "Node.js is not installed (make test installs it)"
    if not (CLIENT / "node_modules" / "@grpc" / "grpc-js").is_dir():
        return "the JavaScript client's packages are not installed: npm ci --prefix tests/clients/node"
    return None


pytestmark = pytest.mark.skipif(_node_missing() is not None, reason=_node_missing() or "")


@dataclass
class Served:
    toy: Toy
    address: str
    stub: KnowledgeServiceStub


@pytest.fixture(scope="module")
def served(falkordb_server: ServerInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    store = FalkorDBStore("127.0.0.1", falkordb_server.port, f"node_{uuid.uuid4().hex[:10]}",
                          password=falkordb_server.password)
    store.ensure_schema()
    toy = load_toy(store)
    store.run("MATCH (ch:Chain {id: $chain}) CREATE (:BenchmarkItem {id: 'itm_node', benchmark: 'toy'})-[:TESTS]->(ch)",
              {"chain": toy.chain.id}, read_only=False)
    settings = Settings(home=tmp_path_factory.mktemp("grpc-node"), grpc_port=0, api_tokens=TOKEN)
    with BackgroundServer(settings, store) as server, grpc.insecure_channel(server.address) as channel:
        yield Served(toy, server.address, KnowledgeServiceStub(channel))
    store.clear()
    store.close()


def node_calls(address: str, plan: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run ``plan`` through the JavaScript client; one result per call."""
    done = subprocess.run(["node", str(CLIENT / "call.mjs"), address, str(ROOT / "proto")], input=json.dumps(plan),
                          capture_output=True, text=True, timeout=300, cwd=CLIENT, check=False)
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == len(plan), done.stdout + done.stderr
    return results


def knowledge(method: str, request: dict[str, Any], *, token: str | None = TOKEN) -> dict[str, Any]:
    call: dict[str, Any] = {"service": KNOWLEDGE, "method": method, "request": request}
    if token is not None:
        call["token"] = token
    return call


def as_json(message: Message) -> dict[str, Any]:
    """A message in proto3's JSON mapping with the proto field names, as the JavaScript client reads it."""
    return MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


_WELL_KNOWN: dict[str, Any] = {"google.protobuf.Timestamp": Timestamp, "google.protobuf.Duration": Duration}


def from_javascript(value: dict[str, Any], descriptor: Descriptor) -> Any:
    """A message as the JavaScript client printed it, in proto3's JSON mapping: less what proto-loader
    adds (unset message fields as ``null``; per oneof, a field named after it that says which member is
    set), with timestamps and durations, which it reads as ``{seconds, nanos}``, in their JSON form."""
    if descriptor.full_name in _WELL_KNOWN:
        known = _WELL_KNOWN[descriptor.full_name](seconds=int(value["seconds"]), nanos=value["nanos"])
        return known.ToJsonString()  # type: ignore[no-any-return]
    out: dict[str, Any] = {}
    oneofs = {o.name for o in descriptor.oneofs}
    for key, v in value.items():
        if v is None or key in oneofs:
            continue
        field = descriptor.fields_by_name[key]
        kind = field.message_type
        if kind is not None and kind.GetOptions().map_entry:
            inner = kind.fields_by_name["value"].message_type
            out[key] = {k: from_javascript(x, inner) if inner is not None else x for k, x in v.items()}
        elif kind is not None:
            out[key] = [from_javascript(x, kind) for x in v] if isinstance(v, list) else from_javascript(v, kind)
        else:
            out[key] = v
    return out


def test_knowledge_answers_read_the_same_in_javascript(served: Served) -> None:
    toy = served.toy
    price = toy.c["price"].id

    requests: list[tuple[str, dict[str, Any], Message]] = [
        ("GetConcept", {"id": price}, served.stub.GetConcept(kpb.GetConceptRequest(id=price), metadata=AUTH)),
        ("SearchConcepts", {"query": "supply", "page_size": 1},
         served.stub.SearchConcepts(kpb.SearchConceptsRequest(query="supply", page_size=1), metadata=AUTH)),
        ("GetNeighbors", {"concept_id": price, "depth": 2, "direction": "DIRECTION_BOTH"},
         served.stub.GetNeighbors(kpb.GetNeighborsRequest(concept_id=price, depth=2, direction=kpb.DIRECTION_BOTH),
                                  metadata=AUTH)),
        ("GetChain", {"id": toy.chain.id}, served.stub.GetChain(kpb.GetChainRequest(id=toy.chain.id), metadata=AUTH)),
        ("Traceback", {"item_id": "itm_node"},
         served.stub.Traceback(kpb.TracebackRequest(item_id="itm_node"), metadata=AUTH)),
        ("ListNamedQueries", {}, served.stub.ListNamedQueries(kpb.ListNamedQueriesRequest(), metadata=AUTH)),
    ]
    results = node_calls(served.address, [knowledge(m, r) for m, r, _ in requests])
    for (method, _, python), got in zip(requests, results, strict=True):
        assert got["ok"], (method, got)
        assert from_javascript(got["response"], python.DESCRIPTOR) == as_json(python), method
    card = results[0]["response"]["concept"]
    assert (card["name"], card["discipline"], card["chain_count"]) == ("price", "economics", 1)
    assert results[1]["response"]["next_page_token"]  # paging works the same from JavaScript
    assert [n["kind"] for n in results[4]["response"]["nodes"]][:1] == ["TRACEBACK_NODE_KIND_CONCEPT"]


def test_named_queries_take_and_return_typed_values(served: Served) -> None:
    """Parameters and cells cross as ``Value`` oneofs: an int64 is a string in JavaScript, a list a list."""
    price = served.toy.c["price"].id
    request = {"name": "concept", "parameters": {"id": {"string_value": price}}}
    got = node_calls(served.address, [knowledge("RunNamedQuery", request)])[0]
    assert got["ok"], got
    python = served.stub.RunNamedQuery(kpb.RunNamedQueryRequest(name="concept", parameters={
        "id": vpb.Value(string_value=price)}), metadata=AUTH)
    assert from_javascript(got["response"], python.DESCRIPTOR) == as_json(python)
    row = dict(zip(got["response"]["columns"], got["response"]["rows"][0]["values"], strict=True))
    assert row["name"]["string_value"] == "price"
    assert row["out_degree"]["int_value"] == "1"  # int64: a string, as proto3's JSON mapping has it


def test_errors_reach_javascript_with_their_codes_and_reasons(served: Served) -> None:
    missing = "con_no_such_concept"
    plan = [
        knowledge("GetConcept", {"id": served.toy.c["price"].id}, token=None),
        knowledge("GetConcept", {"id": served.toy.c["price"].id}, token="not-the-token"),
        knowledge("GetConcept", {"id": missing}),
        knowledge("GetConcept", {}),
        knowledge("RunNamedQuery", {"name": "no_such_query"}),
    ]
    unauthenticated, wrong, not_found, invalid, unknown = node_calls(served.address, plan)
    assert (unauthenticated["ok"], unauthenticated["code"]) == (False, grpc.StatusCode.UNAUTHENTICATED.value[0])
    assert wrong["code"] == grpc.StatusCode.UNAUTHENTICATED.value[0]
    assert not_found["code"] == grpc.StatusCode.NOT_FOUND.value[0]
    assert missing in not_found["details"]  # the reason names the item
    assert invalid["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert unknown["code"] in (grpc.StatusCode.NOT_FOUND.value[0], grpc.StatusCode.INVALID_ARGUMENT.value[0])
    assert "no_such_query" in unknown["details"]


def test_health_and_reflection_serve_a_javascript_client(served: Served) -> None:
    """Health checks need no token (load balancers probe without one); reflection lists every service
    and hands out file descriptors that another language's protobuf runtime parses."""
    plan = [
        {"service": "grpc.health.v1.Health", "method": "Check", "request": {"service": ""}},
        {"service": "grpc.health.v1.Health", "method": "Check", "request": {"service": KNOWLEDGE}},
        {"service": "grpc.reflection.v1alpha.ServerReflection", "method": "ServerReflectionInfo", "token": TOKEN,
         "requests": [{"list_services": ""}, {"file_containing_symbol": KNOWLEDGE}]},
    ]
    overall, knowledge_health, reflected = node_calls(served.address, plan)
    assert overall == {"ok": True, "response": {"status": "SERVING"}}
    assert knowledge_health["response"]["status"] == "SERVING"
    assert reflected["ok"], reflected
    listed, files = reflected["response"]
    assert {KNOWLEDGE, "proda.v1.OperationsService", "grpc.health.v1.Health"} <= set(listed["services"])
    described = {f["name"]: f for f in files["files"]}
    assert described["proda/v1/knowledge.proto"]["services"] == ["KnowledgeService"]
    assert "proda/v1/values.proto" in described["proda/v1/knowledge.proto"]["dependencies"]


def test_a_job_started_from_javascript_is_watched_to_its_result(served: Served) -> None:
    """A durable operation from another language: CheckStructure starts a worker process, WatchOperation
    streams its events to the JavaScript client until the last one carries the result."""
    started = node_calls(served.address, [{"service": "proda.v1.SynthesisService", "method": "CheckStructure",
                                           "request": {"request_id": f"node-{uuid.uuid4().hex[:8]}"},
                                           "token": TOKEN}])[0]
    assert started["ok"], started
    operation = started["response"]["operation"]
    assert operation["state"] in ("OPERATION_STATE_QUEUED", "OPERATION_STATE_RUNNING")
    watched = node_calls(served.address, [{"service": "proda.v1.OperationsService", "method": "WatchOperation",
                                           "request": {"id": operation["id"]}, "token": TOKEN, "stream": True}])[0]
    assert watched["ok"], watched
    events = watched["response"]
    last = events[-1]["operation"]
    assert last["state"] == "OPERATION_STATE_SUCCEEDED", last
    assert [e["event"]["sequence"] for e in events] == sorted(e["event"]["sequence"] for e in events)
    assert all(isinstance(e["event"]["sequence"], str) for e in events)  # int64: a string in JavaScript
    with grpc.insecure_channel(served.address) as channel:
        python = OperationsServiceStub(channel).GetOperation(opb.GetOperationRequest(id=operation["id"]), metadata=AUTH)
    assert from_javascript(last, python.operation.DESCRIPTOR) == as_json(python.operation)
    per_discipline = {d["map_value"]["fields"]["discipline"]["string_value"]: d["map_value"]["fields"]
                      for d in last["result"]["disciplines"]["list_value"]["values"]}
    economics = sum(1 for c in served.toy.c.values() if c.discipline == "economics")
    assert per_discipline["economics"]["concepts"] == {"int_value": str(economics), "kind": "int_value"}
