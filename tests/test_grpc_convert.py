"""Unit tests of the pieces between the wire and the domain: converters, page tokens, the status
mapping, auth token checks, job specs and the operation store."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proda.errors import (
    BudgetExceeded,
    ConfigError,
    DependencyMissing,
    GraphUnavailable,
    IdCollision,
    InputError,
    InvalidModelOutput,
    NotFound,
    PreconditionFailed,
    ProdaError,
    QueryError,
    QueryTimeout,
    RemoteError,
    UnknownRelationType,
)
from proda.knowledge import (
    ChainDetail,
    ChainStep,
    ConceptCard,
    ConceptRef,
    Neighbour,
    Neighbourhood,
    QueryResult,
    RelationRef,
    Traceback,
    TracebackNode,
    prefix_upper_bound,
)
from proda.services import convert, jobs, paging
from proda.services.auth import BearerTokenInterceptor
from proda.services.errors import code_name, code_number, error_for_status, is_transient, status_for
from proda.services.jobs_rpc import benchmark_values, check_values, extract_values, options_values, patch_values
from proda.services.operations import OperationError, OperationEvent, OperationState, OperationStore, Progress
from proda.v1 import knowledge_pb2 as kpb
from proda.v1 import synthesis_pb2 as spb
from proda.v1 import training_pb2 as tpb

json_like = st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 63), (1 << 63) - 1) | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(json_like)
def test_values_round_trip(value: Any) -> None:
    assert convert.from_value(convert.to_value(value)) == value


def test_values_keep_what_json_would_lose() -> None:
    assert convert.to_value(1 << 70).string_value == str(1 << 70)  # exact, not a rounded double
    assert convert.to_value(True).WhichOneof("kind") == "bool_value"  # a bool is not an int on the wire
    assert convert.from_value(convert.to_value((1, {2: "x"}))) == [1, {"2": "x"}]
    assert convert.from_value(convert.to_value(Path("/tmp/x"))) == "/tmp/x"


def test_parameters_refuse_what_no_graph_can_carry() -> None:
    request = kpb.RunNamedQueryRequest()
    request.parameters["ids"].CopyFrom(convert.to_value([1, {"": 2}]))
    with pytest.raises(InputError, match=r"parameter 'ids'\[1\]: map key ''"):
        convert.parameters(request.parameters)
    request.parameters["ids"].CopyFrom(convert.to_value({"a": [float("inf")]}))
    with pytest.raises(InputError, match=r"parameter 'ids'.a\[0\]: inf"):
        convert.parameters(request.parameters)


def test_knowledge_answers_round_trip() -> None:
    rel = RelationRef("rel_1", "causes", "con_a", "con_b", "a causes b", "chk_1")
    a, b = ConceptRef("con_a", "a", "economics"), ConceptRef("con_b", "b", "economics")
    card = ConceptCard("con_a", "a", "economics", ("alpha",), "", 1, 0, 2, ("chk_1",))
    assert convert.concept_from_proto(convert.concept_to_proto(card)) == card
    hood = Neighbourhood((Neighbour(b, 1, (rel,)),), truncated=True)
    assert convert.neighbourhood_from_proto(convert.neighbourhood_to_proto(hood)) == hood
    chain = ChainDetail("chn_1", "economics", "test", (ChainStep(0, a, rel, "doc_1", "Doc"),
                                                       ChainStep(1, b, None, "", "")))
    assert convert.chain_from_proto(convert.chain_to_proto(chain)) == chain
    trace = Traceback("itm", "proda", "chn_1", "economics", (TracebackNode("concept", "con_a", "a", 0, 3),
                                                             TracebackNode("document", "doc_1", "Doc", 0, 0)))
    assert convert.traceback_from_proto(convert.traceback_to_proto(trace)) == trace
    result = QueryResult(("n", "xs"), ((1, ["a", None]), (None, [])), truncated=False)
    assert convert.query_result_from_proto(convert.query_result_to_proto(result)) == result


def test_knowledge_requests_apply_defaults_for_unset_fields() -> None:
    request = convert.neighbour_request(kpb.GetNeighborsRequest(concept_id="con_a"))
    assert (request.direction, request.depth, request.limit, request.relation_types) == ("both", 1, 100, ())
    back = convert.neighbour_request(convert.neighbour_request_to_proto(request.model_copy(update={"direction": "in"})))
    assert back.direction == "in"
    search = convert.search_request(kpb.SearchConceptsRequest(query="sup", discipline=""), ["sup", "con_1"])
    assert (search.discipline, search.page_size, search.after) == (None, 20, ("sup", "con_1"))
    with pytest.raises(InputError, match="after"):
        convert.search_request(kpb.SearchConceptsRequest(query="sup"), ["only one"])


def test_operations_round_trip() -> None:
    store_record = jobs_record()
    back = convert.operation_from_proto(convert.operation_to_proto(store_record))
    assert (back.error, back.spec, back.progress) == (store_record.error, store_record.spec, store_record.progress)
    assert back.create_time == pytest.approx(store_record.create_time, abs=1e-6) and back.start_time is None
    for event in (OperationEvent("op", 1, 10.5, "progress", {"done": 3, "total": 9, "message": "x"}),
                  OperationEvent("op", 2, 11.0, "log", {"level": "WARNING", "source": "stderr", "message": "y"}),
                  OperationEvent("op", 3, 12.0, "state", {"state": "failed"})):
        assert convert.event_from_proto("op", convert.event_to_proto(event)) == event


def jobs_record() -> Any:
    from proda.services.operations import OperationRecord

    return OperationRecord(id="op_1", kind="synthesis.check_structure", state=OperationState.FAILED,
                           spec={"discipline": None, "n": [1, 2]}, request_id="r", request_hash="h", attempt=2,
                           create_time=1700000000.123456, update_time=1700000001.5,
                           progress=Progress(3, 10, "going"), error=OperationError("UNAVAILABLE", "down", True))


def test_page_tokens_are_bound_to_their_rpc_and_filters() -> None:
    token = paging.encode("ListOperations", ["kind", 0], [1.5, "op_9"])
    assert paging.decode(token, "ListOperations", ["kind", 0]) == [1.5, "op_9"]
    assert paging.decode("", "ListOperations", ["kind", 0]) is None
    with pytest.raises(InputError, match="other filters"):
        paging.decode(token, "ListOperations", ["other", 0])
    with pytest.raises(InputError, match="for this RPC"):
        paging.decode(token, "SearchConcepts", ["kind", 0])
    for garbage in ("!!!", "e30", "x" * 2000):
        with pytest.raises(InputError):
            paging.decode(garbage, "ListOperations", ["kind", 0])


def test_prefix_upper_bound() -> None:
    assert prefix_upper_bound("abc") == "abd"
    assert prefix_upper_bound("é") == "ê"
    assert prefix_upper_bound("a\x7f") == "b"  # U+0080 would sort below ASCII in FalkorDB's byte order
    assert prefix_upper_bound("\U0010ffff") is None
    assert prefix_upper_bound("x\ud7ff") == "y"  # never a surrogate


@pytest.mark.parametrize(("error", "code"), [
    (InputError("x"), grpc.StatusCode.INVALID_ARGUMENT), (UnknownRelationType("x"), grpc.StatusCode.INVALID_ARGUMENT),
    (IdCollision("x"), grpc.StatusCode.INVALID_ARGUMENT), (NotFound("x"), grpc.StatusCode.NOT_FOUND),
    (PreconditionFailed("x"), grpc.StatusCode.FAILED_PRECONDITION),
    (ConfigError("x"), grpc.StatusCode.FAILED_PRECONDITION),
    (DependencyMissing("ray", "ray"), grpc.StatusCode.FAILED_PRECONDITION),
    (BudgetExceeded("x"), grpc.StatusCode.RESOURCE_EXHAUSTED), (QueryTimeout("x"), grpc.StatusCode.DEADLINE_EXCEEDED),
    (QueryError("x"), None),  # a catalog query the database rejects after validation: a server bug
    (GraphUnavailable("x"), grpc.StatusCode.UNAVAILABLE),
    (InvalidModelOutput("x"), grpc.StatusCode.UNAVAILABLE), (ProdaError("x"), grpc.StatusCode.FAILED_PRECONDITION),
    (ValueError("a bug"), None),
])
def test_every_error_has_one_precise_status(error: BaseException, code: grpc.StatusCode | None) -> None:
    assert status_for(error) == code


def test_statuses_map_back_to_the_same_errors() -> None:
    cases = {grpc.StatusCode.INVALID_ARGUMENT: InputError, grpc.StatusCode.NOT_FOUND: NotFound,
             grpc.StatusCode.FAILED_PRECONDITION: PreconditionFailed, grpc.StatusCode.DEADLINE_EXCEEDED: QueryTimeout,
             grpc.StatusCode.UNAVAILABLE: GraphUnavailable, grpc.StatusCode.UNAUTHENTICATED: ConfigError,
             grpc.StatusCode.RESOURCE_EXHAUSTED: RemoteError, grpc.StatusCode.INTERNAL: RemoteError}
    for code, cls in cases.items():
        assert type(error_for_status(code, "why", target="h:1")) is cls
    assert code_name(code_number("ABORTED")) == "ABORTED" and code_number("NOPE") == 2 and code_name(99) == "UNKNOWN"
    assert is_transient(GraphUnavailable("x")) and is_transient(BudgetExceeded("x"))
    assert not is_transient(InputError("x"))


def test_bearer_tokens() -> None:
    auth = BearerTokenInterceptor(["secret-token-0123456789"])
    assert auth.allows((("authorization", "Bearer secret-token-0123456789"),))
    assert auth.allows((("x-other", "1"), ("authorization", "bearer  secret-token-0123456789 ")))
    for metadata in ((), (("authorization", "secret-token-0123456789"),), (("authorization", "Bearer secret"),),
                     (("authorization", "Basic secret-token-0123456789"),)):
        assert not auth.allows(metadata)
    with pytest.raises(ValueError, match="at least one token"):
        BearerTokenInterceptor([])


def test_start_requests_pass_only_the_fields_that_were_set() -> None:
    assert extract_values(spb.ExtractKnowledgeRequest()) == {}
    assert extract_values(spb.ExtractKnowledgeRequest(backend="openai", max_cost=0.0)) == {"backend": "openai",
                                                                                           "max_cost": 0.0}
    assert check_values(spb.CheckStructureRequest(discipline="economics")) == {"discipline": "economics"}
    assert benchmark_values(spb.BuildBenchmarkRequest(splits=["test"], test_ratio=0.2)) == {"splits": ["test"],
                                                                                            "test_ratio": 0.2}
    train = tpb.TrainModelRequest(base_model="m", dataset="d")
    train.options["epochs"].CopyFrom(convert.to_value(2))
    assert options_values(train, "base_model", "dataset") == {"epochs": 2, "base_model": "m", "dataset": "d"}
    patches = spb.GeneratePatchesRequest(eval_run_id="evr_1", diagnose_only=True)
    patches.options["budget"].CopyFrom(convert.to_value(8))
    assert patch_values(patches) == {"budget": 8, "run": "evr_1", "diagnose_only": True}
    with pytest.raises(InputError, match="eval_run_id: give the evaluation run"):
        patch_values(spb.GeneratePatchesRequest(discipline="economics"))


def test_job_registry_names_what_is_missing_and_validates_specs() -> None:
    registry = jobs.default_registry()
    assert {jobs.CHECK_STRUCTURE, jobs.EXTRACT_KNOWLEDGE, jobs.BUILD_TRAINING_DATA, jobs.EVALUATE_MODEL} <= set(
        registry.names())
    with pytest.raises(PreconditionFailed, match="not available yet: patch stage not installed"):
        jobs.JobRegistry(unavailable={jobs.GENERATE_PATCHES: "patch stage"}).validate(jobs.GENERATE_PATCHES, {})
    # the Debugger's spec is PatchConfig's fields: its own rules speak, and diagnose_only is not a config key
    with pytest.raises(InputError, match="give the evaluation run to repair"):
        registry.validate(jobs.GENERATE_PATCHES, {})
    with pytest.raises(InputError, match="budget 0: a patch set needs at least 1 example"):
        registry.validate(jobs.GENERATE_PATCHES, {"run": "r", "budget": 0})
    with pytest.raises(InputError, match="replay_ratio: Input should be a valid number"):
        registry.validate(jobs.GENERATE_PATCHES, {"run": "r", "replay_ratio": "lots"})
    spec = registry.validate(jobs.GENERATE_PATCHES, {"run": "r", "diagnose_only": True, "force": True})
    assert spec["diagnose_only"] and spec["force"] and spec["budget"] == 1000
    assert jobs.patch_spec().model_validate(spec).to_config().force
    with pytest.raises(NotFound, match="no job kind"):
        registry.get("synthesis.nope")
    with pytest.raises(InputError, match="backend"):
        registry.validate(jobs.EXTRACT_KNOWLEDGE, {"backend": "telepathy"})
    with pytest.raises(InputError, match="disciplin: unknown setting; this job takes discipline"):
        registry.validate(jobs.CHECK_STRUCTURE, {"disciplin": "economics"})
    assert registry.validate(jobs.CHECK_STRUCTURE, {}) == {"discipline": None}
    if jobs.BUILD_BENCHMARK in registry.names():  # the benchmark stage's own rules speak through the spec
        with pytest.raises(InputError, match="benchmark name"):
            registry.validate(jobs.BUILD_BENCHMARK, {"name": "Bad Name"})


def test_operation_store_is_idempotent_and_refuses_other_schema_versions(tmp_path: Path) -> None:
    store = OperationStore(tmp_path / "ops.sqlite3")
    first, created = store.create("k", {"a": 1}, "req")
    again, created_again = store.create("k", {"a": 1}, "req")
    assert created and not created_again and again.id == first.id
    with pytest.raises(InputError, match="other parameters"):
        store.create("k", {"a": 2}, "req")
    assert [e.sequence for e in (store.append_event(first.id, "log", {}), store.append_event(first.id, "log", {}))] \
        == [1, 2]
    store.close()
    with sqlite3.connect(tmp_path / "ops.sqlite3") as db:
        db.execute("PRAGMA user_version=7")
    with pytest.raises(ConfigError, match="schema version 7"):
        OperationStore(tmp_path / "ops.sqlite3")
