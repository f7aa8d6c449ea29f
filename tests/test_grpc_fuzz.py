"""Property-based: arbitrary and malformed requests never make the server answer INTERNAL, nor crash it.

Requests are generated from the request messages' descriptors (every field, any value the wire can
carry: out-of-range numbers, unknown enum values, deep Values, odd text, real catalog names with
random parameters), and as raw bytes that are not a message at all. The server runs jobs with zero
worker slots, so start RPCs that pass validation queue their operation and nothing runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import DecodeError, Message
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proda.config import Settings
from proda.schema.catalog import default_catalog
from proda.schema.store import FalkorDBStore, ServerInfo
from proda.services.server import BackgroundServer
from proda.v1 import evaluation_pb2, knowledge_pb2, operations_pb2, synthesis_pb2, training_pb2
from tests.graphs import load_toy

# What bad input may be answered with; INTERNAL and UNKNOWN mean a server bug.
ACCEPTABLE = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
              grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.RESOURCE_EXHAUSTED,
              grpc.StatusCode.DEADLINE_EXCEEDED}
METHODS: list[MethodDescriptor] = [
    m for module in (knowledge_pb2, operations_pb2, synthesis_pb2, evaluation_pb2, training_pb2)
    for service in module.DESCRIPTOR.services_by_name.values() for m in service.methods]
WORDS = [q.name for q in default_catalog()] + ["economics", "price", "causes", "test", "dev", "op_", "con_", ""]
_INT_RANGES = {FieldDescriptor.TYPE_INT32: 31, FieldDescriptor.TYPE_SINT32: 31, FieldDescriptor.TYPE_SFIXED32: 31,
               FieldDescriptor.TYPE_INT64: 63, FieldDescriptor.TYPE_SINT64: 63, FieldDescriptor.TYPE_SFIXED64: 63}

texts = st.one_of(st.sampled_from(WORDS), st.text(max_size=40), st.text(max_size=3000))


def scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    if field.type == FieldDescriptor.TYPE_STRING:
        return texts
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(width=64 if field.type == FieldDescriptor.TYPE_DOUBLE else 32)
    if field.type == FieldDescriptor.TYPE_ENUM:
        return st.integers(-3, 12)  # proto3 enums are open: unknown numbers arrive as they are
    if field.type in _INT_RANGES:
        bits = _INT_RANGES[field.type]
        return st.one_of(st.integers(-3, 300), st.integers(-(1 << bits), (1 << bits) - 1))
    if field.type == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=40)
    raise AssertionError(f"no strategy for {field.full_name}")


def message(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """Messages of ``descriptor`` with a random subset of fields set (nesting bounded by ``depth``)."""
    cls = GetMessageClass(descriptor)

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        msg = cls()
        for field in descriptor.fields:
            if not draw(st.booleans()):
                continue
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                entry = field.message_type.fields_by_name
                key_field, value_field = entry["key"], entry["value"]
                for _ in range(draw(st.integers(0, 3))):
                    key = draw(scalar(key_field))
                    target = getattr(msg, field.name)
                    if value_field.message_type is not None:
                        if depth < 4:
                            target[key].CopyFrom(draw(message(value_field.message_type, depth + 1)))
                    else:
                        target[key] = draw(scalar(value_field))
            elif field.message_type is not None:
                if depth >= 4:
                    continue
                sub = message(field.message_type, depth + 1)
                if field.is_repeated:
                    for item in draw(st.lists(sub, max_size=3)):
                        getattr(msg, field.name).add().CopyFrom(item)
                else:
                    getattr(msg, field.name).CopyFrom(draw(sub))
            elif field.is_repeated:
                getattr(msg, field.name).extend(draw(st.lists(scalar(field), max_size=4)))
            else:
                setattr(msg, field.name, draw(scalar(field)))
        return msg

    return build()


def path(method: MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


# its own graph, not conftest's per-test falkordb_store: the module's one server serves it to every test
@pytest.fixture(scope="module")
def channel(falkordb_server: ServerInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[grpc.Channel]:
    store = FalkorDBStore("127.0.0.1", falkordb_server.port, f"grpc_fuzz_{uuid.uuid4().hex[:8]}",
                          password=falkordb_server.password)
    store.ensure_schema()
    load_toy(store)
    settings_ = Settings(home=tmp_path_factory.mktemp("grpc-fuzz"), grpc_port=0, grpc_max_jobs=0,
                         grpc_max_message_bytes=256 * 1024, query_timeout_ms=5_000)
    with BackgroundServer(settings_, store) as server, grpc.insecure_channel(server.address) as ch:
        yield ch
        # the server survived everything: it still answers health and real queries
        assert health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10).status in (
            health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING)
        concept = knowledge_pb2.GetConceptRequest(id=load_toy(store).c["price"].id)
        assert ch.unary_unary("/proda.v1.KnowledgeService/GetConcept", request_serializer=_serialize,
                              response_deserializer=knowledge_pb2.GetConceptResponse.FromString)(concept, timeout=10)
    store.clear()
    store.close()


def _serialize(m: Message) -> bytes:
    return m.SerializeToString()


def _identity(b: bytes) -> bytes:
    return b


def call(ch: grpc.Channel, method: MethodDescriptor, payload: bytes) -> grpc.StatusCode:
    """Send ``payload`` as the request of ``method``; the status it ends with (streams: read them out)."""
    try:
        if method.server_streaming:
            for _ in ch.unary_stream(path(method), request_serializer=_identity,
                                     response_deserializer=_identity)(payload, timeout=5):
                pass
        else:
            ch.unary_unary(path(method), request_serializer=_identity,
                           response_deserializer=_identity)(payload, timeout=10)
    except grpc.RpcError as e:
        return e.code()  # type: ignore[no-any-return]  # errors raised by calls are grpc.Call objects
    return grpc.StatusCode.OK


requests: st.SearchStrategy[tuple[MethodDescriptor, Message]] = st.sampled_from(METHODS).flatmap(
    lambda m: st.tuples(st.just(m), message(m.input_type)))
fuzz: Callable[[Callable[..., None]], Callable[..., None]] = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                            HealthCheck.too_slow, HealthCheck.data_too_large])


@fuzz
@given(requests)
def test_arbitrary_requests_get_a_precise_status(channel: grpc.Channel,
                                                 request: tuple[MethodDescriptor, Message]) -> None:
    method, msg = request
    code = call(channel, method, msg.SerializeToString())
    assert code in ACCEPTABLE, f"{path(method)} answered {code.name} to {msg}"


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


@st.composite
def no_message(draw: st.DrawFn) -> bytes:
    """Bytes that no protobuf message parses from, whatever its type.

    Random bytes alone will not do: b"" is an empty message, and many short strings are valid fields
    (a varint field, or an unknown one, which parsers keep). So the bytes start with a first field that
    cannot be read, and random bytes follow: a tag of field number 0 or of wire type 6 or 7 (neither
    exists), or a length-delimited field whose length runs past the end of the bytes. A parser reads
    the first field before anything else, so no tail makes these valid.
    """
    tail = draw(st.one_of(st.binary(max_size=64), st.binary(min_size=200, max_size=2000)))
    field = draw(st.integers(1, 1000))
    lead = draw(st.sampled_from(["field_zero", "wire_type_6", "wire_type_7", "truncated"]))
    if lead == "field_zero":
        return _varint(draw(st.sampled_from([0, 1, 2, 5]))) + tail  # field 0, with one of the real wire types
    if lead == "truncated":
        return _varint(field << 3 | 2) + _varint(len(tail) + draw(st.integers(1, 1 << 20))) + tail
    return _varint(field << 3 | int(lead[-1])) + tail


@fuzz
@given(st.sampled_from(METHODS), no_message())
def test_bytes_that_are_no_message_are_invalid_argument(channel: grpc.Channel, method: MethodDescriptor,
                                                         payload: bytes) -> None:
    with pytest.raises(DecodeError):  # the premise: the bytes really are no message of this type
        GetMessageClass(method.input_type).FromString(payload)
    code = call(channel, method, payload)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, f"{path(method)} answered {code.name} to {payload!r}"


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
                           max_leaves=8)
_BY_TYPE: dict[str, st.SearchStrategy[Any]] = {
    "string": texts, "int": st.integers(), "float": st.floats(allow_nan=False), "bool": st.booleans(),
    "list": st.lists(json_values, max_size=4), "map": st.dictionaries(texts, json_values, max_size=3),
    "any": json_values}
READ_QUERIES = [q for q in default_catalog() if q.read_only]


@st.composite
def catalog_calls(draw: st.DrawFn) -> knowledge_pb2.RunNamedQueryRequest:
    """A real read-only catalog query with every declared parameter given a random value of its type
    (or, sometimes, of any type): these reach the database."""
    from proda.services.convert import to_value

    query = draw(st.sampled_from(READ_QUERIES))
    request = knowledge_pb2.RunNamedQueryRequest(name=query.name, row_limit=draw(st.integers(0, 20)))
    for p in query.params:
        value = draw(st.one_of(_BY_TYPE[p.type], json_values) if draw(st.integers(0, 4)) == 0 else _BY_TYPE[p.type])
        request.parameters[p.name].CopyFrom(to_value(value))
    return request


@fuzz
@given(catalog_calls())
def test_catalog_queries_with_random_parameters_never_fail_internally(
        channel: grpc.Channel, request: knowledge_pb2.RunNamedQueryRequest) -> None:
    method = knowledge_pb2.DESCRIPTOR.services_by_name["KnowledgeService"].methods_by_name["RunNamedQuery"]
    code = call(channel, method, request.SerializeToString())
    assert code in ACCEPTABLE, f"RunNamedQuery answered {code.name} to {request}"


def test_truncated_and_oversized_messages(channel: grpc.Channel) -> None:
    method = knowledge_pb2.DESCRIPTOR.services_by_name["KnowledgeService"].methods_by_name["RunNamedQuery"]
    valid = knowledge_pb2.RunNamedQueryRequest(name="concept", row_limit=5).SerializeToString()
    assert call(channel, method, valid[:-2]) == grpc.StatusCode.INVALID_ARGUMENT  # cut mid-field
    deep = knowledge_pb2.RunNamedQueryRequest(name="concept")
    value = deep.parameters["id"]
    for _ in range(150):  # beyond protobuf's recursion limit for parsing
        value = value.list_value.values.add()
    assert call(channel, method, deep.SerializeToString()) == grpc.StatusCode.INVALID_ARGUMENT
    assert call(channel, method, b"\n" + b"\xff" * 300_000) == grpc.StatusCode.RESOURCE_EXHAUSTED
