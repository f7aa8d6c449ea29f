"""Proto <-> domain conversion, one small explicit function per type, both directions.

The server converts requests to the validated domain requests of :mod:`proda.knowledge`
and :mod:`proda.services.jobs`, and domain answers to messages; the client converts messages back to
the same domain types, so both sides of the wire speak one vocabulary. Proto3 scalars have no
presence: an empty string or a zero means "not given", and the domain default applies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, MutableMapping
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from proda.errors import InputError
from proda.knowledge import (
    ChainDetail,
    ChainStep,
    ConceptCard,
    ConceptMatch,
    ConceptRef,
    Evidence,
    FailureKind,
    FailureNode,
    NamedQueryRequest,
    Neighbour,
    Neighbourhood,
    NeighbourRequest,
    NodeKind,
    OperatorFailure,
    QueryResult,
    RelationRef,
    RunTraceback,
    RunTracebackRequest,
    SearchRequest,
    Traceback,
    TracebackNode,
    element_id,
    validated,
)
from proda.schema.catalog import Query
from proda.services import errors as status
from proda.services.operations import OperationError, OperationEvent, OperationRecord, OperationState, Progress
from proda.v1 import knowledge_pb2 as kpb
from proda.v1 import operations_pb2 as opb
from proda.v1 import values_pb2 as vpb

_INT64 = (-(1 << 63), (1 << 63) - 1)


# ---------------------------------------------------------------------------------------------------
# values
# ---------------------------------------------------------------------------------------------------
def to_value(x: Any) -> vpb.Value:
    """A Python value (JSON-like, as graph rows and job results are) as a Value.

    Integers outside int64 become their decimal string, so nothing is silently rounded; objects the
    wire has no type for (dates, paths) become their string form.
    """
    v = vpb.Value()
    if x is None:
        return v
    if isinstance(x, bool):
        v.bool_value = x
    elif isinstance(x, int):
        if _INT64[0] <= x <= _INT64[1]:
            v.int_value = x
        else:
            v.string_value = str(x)
    elif isinstance(x, float):
        v.double_value = x
    elif isinstance(x, str):
        v.string_value = x
    elif isinstance(x, Mapping):
        v.map_value.SetInParent()  # an empty map is still a map, not null
        fill_map(v.map_value.fields, x)
    elif isinstance(x, list | tuple | set | frozenset):
        v.list_value.SetInParent()
        v.list_value.values.extend(to_value(e) for e in x)
    else:
        v.string_value = str(x)
    return v


def from_value(v: vpb.Value) -> Any:
    """The Python value of a Value (None for an unset one)."""
    kind = v.WhichOneof("kind")
    if kind is None:
        return None
    if kind == "list_value":
        return [from_value(e) for e in v.list_value.values]
    if kind == "map_value":
        return map_to_dict(v.map_value.fields)
    return getattr(v, kind)


def fill_map(target: MutableMapping[str, vpb.Value], data: Mapping[Any, Any]) -> None:
    """Put ``data`` into a ``map<string, Value>`` field (keys as strings)."""
    for key, value in data.items():
        target[str(key)].CopyFrom(to_value(value))


def map_to_dict(source: Mapping[str, vpb.Value]) -> dict[str, Any]:
    """A ``map<string, Value>`` field as a dict."""
    return {key: from_value(value) for key, value in source.items()}


def _check_graph_value(value: Any, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{where}: {value} is not a number a graph can hold")
    # FalkorDB's parser reads a parameter header up to the first NUL: refused here, in ProDa's words
    if isinstance(value, str) and "\x00" in value:
        raise InputError(f"{where}: holds a NUL character, which a graph parameter cannot carry")
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_graph_value(item, f"{where}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            # FalkorDB passes parameters as a CYPHER header whose map keys are backtick-quoted names
            if not key or "`" in key or "\x00" in key:
                raise InputError(f"{where}: map key {key!r} is empty or holds a backtick or a NUL, which a "
                                 "graph parameter cannot carry")
            _check_graph_value(item, f"{where}.{key}")


def parameters(source: Mapping[str, vpb.Value]) -> dict[str, Any]:
    """Query parameters from the wire, refusing what no graph parameter can carry (NaN, infinities,
    NUL characters, empty or backticked map keys) with an :class:`InputError` naming the place."""
    values = map_to_dict(source)
    for name, value in values.items():
        _check_graph_value(value, f"parameter {name!r}")
    return values


# ---------------------------------------------------------------------------------------------------
# knowledge: requests
# ---------------------------------------------------------------------------------------------------
_DIRECTIONS = {kpb.DIRECTION_UNSPECIFIED: "both", kpb.DIRECTION_BOTH: "both", kpb.DIRECTION_OUTGOING: "out",
               kpb.DIRECTION_INCOMING: "in"}
_DIRECTION_ENUMS = {"both": kpb.DIRECTION_BOTH, "out": kpb.DIRECTION_OUTGOING, "in": kpb.DIRECTION_INCOMING}


def search_request(req: kpb.SearchConceptsRequest, after: list[Any] | None) -> SearchRequest:
    """A SearchConcepts request (with its decoded page position) as a validated domain request."""
    values: dict[str, Any] = {"query": req.query, "discipline": req.discipline or None}
    if req.page_size:
        values["page_size"] = req.page_size
    if after is not None:
        values["after"] = after
    return validated(SearchRequest, **values)


def neighbour_request(req: kpb.GetNeighborsRequest) -> NeighbourRequest:
    """A GetNeighbors request as a validated domain request (unknown direction numbers are refused)."""
    if req.direction not in _DIRECTIONS:
        raise InputError(f"direction: {req.direction} is not a Direction")
    values: dict[str, Any] = {"concept_id": req.concept_id, "relation_types": tuple(req.relation_types),
                              "direction": _DIRECTIONS[req.direction]}
    if req.depth:
        values["depth"] = req.depth
    if req.limit:
        values["limit"] = req.limit
    return validated(NeighbourRequest, **values)


def named_query_request(req: kpb.RunNamedQueryRequest) -> NamedQueryRequest:
    """A RunNamedQuery request as a validated domain request."""
    return validated(NamedQueryRequest, name=req.name, params=parameters(req.parameters),
                     row_limit=req.row_limit or None)


def neighbour_request_to_proto(request: NeighbourRequest) -> kpb.GetNeighborsRequest:
    """The message of a domain GetNeighbors request (the client's side)."""
    return kpb.GetNeighborsRequest(concept_id=request.concept_id, relation_types=list(request.relation_types),
                                   direction=_DIRECTION_ENUMS[request.direction], depth=request.depth,
                                   limit=request.limit)


# ---------------------------------------------------------------------------------------------------
# knowledge: answers
# ---------------------------------------------------------------------------------------------------
def concept_ref_to_proto(c: ConceptRef) -> kpb.ConceptSummary:
    return kpb.ConceptSummary(id=c.id, name=c.name, discipline=c.discipline)


def concept_ref_from_proto(m: kpb.ConceptSummary) -> ConceptRef:
    return ConceptRef(id=m.id, name=m.name, discipline=m.discipline)


def concept_to_proto(c: ConceptCard) -> kpb.Concept:
    return kpb.Concept(id=c.id, name=c.name, discipline=c.discipline, aliases=list(c.aliases),
                       description=c.description, out_degree=c.out_degree, in_degree=c.in_degree,
                       chain_count=c.chains, chunk_ids=list(c.chunk_ids))


def concept_from_proto(m: kpb.Concept) -> ConceptCard:
    return ConceptCard(id=m.id, name=m.name, discipline=m.discipline, aliases=tuple(m.aliases),
                       description=m.description, out_degree=m.out_degree, in_degree=m.in_degree,
                       chains=m.chain_count, chunk_ids=tuple(m.chunk_ids))


def match_to_proto(m: ConceptMatch) -> kpb.ConceptMatch:
    return kpb.ConceptMatch(concept=concept_ref_to_proto(m.concept), matched_name=m.matched_name,
                            matched_id=m.matched_id)


def match_from_proto(m: kpb.ConceptMatch) -> ConceptMatch:
    # the match key is the server's paging detail; clients page with the token
    return ConceptMatch(concept=concept_ref_from_proto(m.concept), matched_id=m.matched_id,
                        matched_name=m.matched_name, key="")


def relation_to_proto(r: RelationRef) -> kpb.Relation:
    return kpb.Relation(id=r.id, type=r.type, subject_id=r.subject_id, object_id=r.object_id,
                        evidence=r.evidence, chunk_id=r.chunk_id)


def relation_from_proto(m: kpb.Relation) -> RelationRef:
    return RelationRef(id=m.id, type=m.type, subject_id=m.subject_id, object_id=m.object_id,
                       evidence=m.evidence, chunk_id=m.chunk_id)


def neighbourhood_to_proto(n: Neighbourhood) -> kpb.GetNeighborsResponse:
    return kpb.GetNeighborsResponse(
        neighbors=[kpb.Neighbor(concept=concept_ref_to_proto(x.concept), depth=x.depth,
                                path=[relation_to_proto(r) for r in x.path]) for x in n.neighbours],
        truncated=n.truncated)


def neighbourhood_from_proto(m: kpb.GetNeighborsResponse) -> Neighbourhood:
    return Neighbourhood(
        neighbours=tuple(Neighbour(concept_ref_from_proto(x.concept), x.depth,
                                   tuple(relation_from_proto(r) for r in x.path)) for x in m.neighbors),
        truncated=m.truncated)


def chain_to_proto(c: ChainDetail) -> kpb.Chain:
    steps = []
    for s in c.steps:
        step = kpb.ChainStep(position=s.position, concept=concept_ref_to_proto(s.concept),
                             document_id=s.document_id, document_title=s.document_title)
        if s.relation is not None:
            step.relation.CopyFrom(relation_to_proto(s.relation))
        steps.append(step)
    return kpb.Chain(id=c.id, discipline=c.discipline, split=c.split, steps=steps)


def chain_from_proto(m: kpb.Chain) -> ChainDetail:
    return ChainDetail(id=m.id, discipline=m.discipline, split=m.split, steps=tuple(
        ChainStep(position=s.position, concept=concept_ref_from_proto(s.concept),
                  relation=relation_from_proto(s.relation) if s.HasField("relation") else None,
                  document_id=s.document_id, document_title=s.document_title) for s in m.steps))


_NODE_KINDS: dict[NodeKind, kpb.TracebackNodeKind.ValueType] = {
    "concept": kpb.TRACEBACK_NODE_KIND_CONCEPT, "relation": kpb.TRACEBACK_NODE_KIND_RELATION,
    "chunk": kpb.TRACEBACK_NODE_KIND_CHUNK, "document": kpb.TRACEBACK_NODE_KIND_DOCUMENT}
_NODE_NAMES: dict[int, NodeKind] = {v: k for k, v in _NODE_KINDS.items()}


def traceback_to_proto(t: Traceback) -> kpb.TracebackResponse:
    return kpb.TracebackResponse(
        item_id=t.item_id, benchmark=t.benchmark, chain_id=t.chain_id, discipline=t.discipline,
        nodes=[kpb.TracebackNode(kind=_NODE_KINDS[n.kind], id=n.id, label=n.label, position=n.position,
                                 benchmark_items=n.benchmark_items) for n in t.nodes])


def traceback_from_proto(m: kpb.TracebackResponse) -> Traceback:
    return Traceback(item_id=m.item_id, benchmark=m.benchmark, chain_id=m.chain_id, discipline=m.discipline,
                     nodes=tuple(TracebackNode(_NODE_NAMES[n.kind], n.id, n.label, n.position, n.benchmark_items)
                                 for n in m.nodes))


def run_traceback_request(req: kpb.TracebackRequest) -> RunTracebackRequest:
    """A Traceback request for an evaluation run as a validated domain request (zero means the default)."""
    values: dict[str, Any] = {"run": element_id(req.eval_run_id, "eval_run_id")}
    if req.discipline:
        values["discipline"] = req.discipline
    if req.min_support:
        values["min_support"] = req.min_support
    if req.top:
        values["top"] = req.top
    return validated(RunTracebackRequest, **values)


def run_traceback_request_to_proto(r: RunTracebackRequest) -> kpb.TracebackRequest:
    return kpb.TracebackRequest(eval_run_id=r.run, discipline=r.discipline or "", min_support=r.min_support,
                                top=r.top)


_FAILURE_KINDS: dict[FailureKind, kpb.TracebackNodeKind.ValueType] = {
    "discipline": kpb.TRACEBACK_NODE_KIND_DISCIPLINE, "relation_type": kpb.TRACEBACK_NODE_KIND_RELATION_TYPE,
    "concept": kpb.TRACEBACK_NODE_KIND_CONCEPT, "relation": kpb.TRACEBACK_NODE_KIND_RELATION}
_FAILURE_NAMES: dict[int, FailureKind] = {v: k for k, v in _FAILURE_KINDS.items()}


def failure_node_to_proto(n: FailureNode) -> kpb.TracebackNode:
    node = kpb.TracebackNode(kind=_FAILURE_KINDS[n.kind], id=n.id, label=n.label, discipline=n.discipline,
                             failures=kpb.FailureStats(
                                 answered_items=n.items, wrong_items=n.wrong, failure_rate=n.failure_rate,
                                 fooled_by=[kpb.OperatorCount(operator=op, count=k) for op, k in n.fooled_by],
                                 sample_item_id=n.sample_item_id))
    if n.evidence is not None:
        e = n.evidence
        node.evidence.CopyFrom(kpb.Evidence(text=e.text, chunk_id=e.chunk_id, chunk_text=e.chunk_text,
                                            document_id=e.document_id, document_title=e.document_title))
    return node


def failure_node_from_proto(m: kpb.TracebackNode) -> FailureNode:
    if m.kind not in _FAILURE_NAMES:
        raise InputError(f"kind: {m.kind} is not a kind of an evaluation run's traceback node")
    f, e = m.failures, m.evidence
    evidence = (Evidence(text=e.text, chunk_id=e.chunk_id, chunk_text=e.chunk_text, document_id=e.document_id,
                         document_title=e.document_title) if m.HasField("evidence") else None)
    return FailureNode(kind=_FAILURE_NAMES[m.kind], id=m.id, label=m.label, discipline=m.discipline,
                       items=f.answered_items, wrong=f.wrong_items, failure_rate=f.failure_rate,
                       fooled_by=tuple((c.operator, c.count) for c in f.fooled_by), sample_item_id=f.sample_item_id,
                       evidence=evidence)


def run_traceback_to_proto(t: RunTraceback) -> kpb.TracebackResponse:
    return kpb.TracebackResponse(
        benchmark=t.benchmark, discipline=t.discipline, nodes=[failure_node_to_proto(n) for n in t.nodes],
        eval_run=kpb.EvalRunSummary(id=t.run_id, name=t.run_name, model=t.model, split=t.split,
                                    answered_items=t.items, wrong_items=t.wrong),
        operators=[kpb.OperatorFailure(operator=o.operator, offered_items=o.offered, fooled_items=o.fooled,
                                       fooled_rate=o.fooled_rate, sample_item_id=o.sample_item_id)
                   for o in t.operators])


def run_traceback_from_proto(m: kpb.TracebackResponse) -> RunTraceback:
    nodes = [failure_node_from_proto(n) for n in m.nodes]

    def of(kind: FailureKind) -> tuple[FailureNode, ...]:
        return tuple(n for n in nodes if n.kind == kind)

    run = m.eval_run
    return RunTraceback(
        run_id=run.id, run_name=run.name, model=run.model, benchmark=m.benchmark, split=run.split,
        discipline=m.discipline, items=run.answered_items, wrong=run.wrong_items, disciplines=of("discipline"),
        relation_types=of("relation_type"), concepts=of("concept"), relations=of("relation"),
        operators=tuple(OperatorFailure(operator=o.operator, offered=o.offered_items, fooled=o.fooled_items,
                                        fooled_rate=o.fooled_rate, sample_item_id=o.sample_item_id)
                        for o in m.operators))


def named_query_to_proto(q: Query) -> kpb.NamedQuery:
    params = []
    for p in q.params:
        param = kpb.NamedQueryParameter(name=p.name, type=p.type, description=p.doc, required=p.required)
        if p.default is not None:
            param.default_value.CopyFrom(to_value(p.default))
        params.append(param)
    return kpb.NamedQuery(name=q.name, purpose=q.purpose, parameters=params, columns=list(q.columns))


def query_result_to_proto(r: QueryResult) -> kpb.RunNamedQueryResponse:
    return kpb.RunNamedQueryResponse(columns=list(r.columns), truncated=r.truncated,
                                     rows=[kpb.Row(values=[to_value(v) for v in row]) for row in r.rows])


def query_result_from_proto(m: kpb.RunNamedQueryResponse) -> QueryResult:
    return QueryResult(columns=tuple(m.columns), truncated=m.truncated,
                       rows=tuple(tuple(from_value(v) for v in row.values) for row in m.rows))


# ---------------------------------------------------------------------------------------------------
# operations
# ---------------------------------------------------------------------------------------------------
_STATES: dict[OperationState, opb.OperationState.ValueType] = {
    OperationState.QUEUED: opb.OPERATION_STATE_QUEUED, OperationState.RUNNING: opb.OPERATION_STATE_RUNNING,
    OperationState.SUCCEEDED: opb.OPERATION_STATE_SUCCEEDED, OperationState.FAILED: opb.OPERATION_STATE_FAILED,
    OperationState.CANCELLED: opb.OPERATION_STATE_CANCELLED}
_STATE_NAMES: dict[int, OperationState] = {v: k for k, v in _STATES.items()}
_LEVELS: dict[str, opb.LogLevel.ValueType] = {
    "DEBUG": opb.LOG_LEVEL_DEBUG, "INFO": opb.LOG_LEVEL_INFO, "WARNING": opb.LOG_LEVEL_WARNING,
    "ERROR": opb.LOG_LEVEL_ERROR, "CRITICAL": opb.LOG_LEVEL_ERROR}
_LEVEL_NAMES: dict[int, str] = {opb.LOG_LEVEL_DEBUG: "DEBUG", opb.LOG_LEVEL_INFO: "INFO",
                                opb.LOG_LEVEL_WARNING: "WARNING", opb.LOG_LEVEL_ERROR: "ERROR"}


def state_to_proto(state: OperationState) -> opb.OperationState.ValueType:
    return _STATES[state]


def state_from_proto(state: int) -> OperationState | None:
    """The domain state of an enum number; None for UNSPECIFIED (or a number this version does not know)."""
    return _STATE_NAMES.get(state)


def _timestamp(t: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(round(t * 1e9))
    return ts


def _seconds(ts: Timestamp) -> float:
    return ts.ToNanoseconds() / 1e9


def operation_to_proto(r: OperationRecord) -> opb.Operation:
    m = opb.Operation(id=r.id, kind=r.kind, state=_STATES[r.state], request_id=r.request_id or "",
                      attempt=r.attempt, done=r.done,
                      progress=opb.Progress(done=r.progress.done, total=r.progress.total, message=r.progress.message))
    fill_map(m.spec, r.spec)
    if r.result is not None:
        fill_map(m.result, r.result)
    if r.error is not None:
        m.error.CopyFrom(opb.OperationError(code=status.code_number(r.error.code), message=r.error.message,
                                            resumable=r.error.resumable))
    m.create_time.CopyFrom(_timestamp(r.create_time))
    m.update_time.CopyFrom(_timestamp(r.update_time))
    if r.start_time is not None:
        m.start_time.CopyFrom(_timestamp(r.start_time))
    if r.end_time is not None:
        m.end_time.CopyFrom(_timestamp(r.end_time))
    return m


def operation_from_proto(m: opb.Operation) -> OperationRecord:
    """The record of a received operation (``request_hash`` is the server's and stays empty here)."""
    state = _STATE_NAMES.get(m.state)
    if state is None:
        raise ValueError(f"operation {m.id} has state {m.state}, which this client does not know")
    error = None
    if m.HasField("error"):
        error = OperationError(code=status.code_name(m.error.code), message=m.error.message,
                               resumable=m.error.resumable)
    return OperationRecord(
        id=m.id, kind=m.kind, state=state, spec=map_to_dict(m.spec), request_id=m.request_id or None,
        request_hash="", attempt=m.attempt, create_time=_seconds(m.create_time),
        update_time=_seconds(m.update_time),
        progress=Progress(done=m.progress.done, total=m.progress.total, message=m.progress.message),
        result=map_to_dict(m.result) if state == OperationState.SUCCEEDED else None, error=error,
        start_time=_seconds(m.start_time) if m.HasField("start_time") else None,
        end_time=_seconds(m.end_time) if m.HasField("end_time") else None)


def event_to_proto(e: OperationEvent) -> opb.OperationEvent:
    m = opb.OperationEvent(sequence=e.sequence, time=_timestamp(e.time))
    if e.kind == "progress":
        m.progress.CopyFrom(opb.Progress(done=int(e.payload.get("done", 0)), total=int(e.payload.get("total", 0)),
                                         message=str(e.payload.get("message", ""))))
    elif e.kind == "log":
        m.log.CopyFrom(opb.LogLine(level=_LEVELS.get(str(e.payload.get("level", "INFO")), opb.LOG_LEVEL_INFO),
                                   source=str(e.payload.get("source", "")), message=str(e.payload.get("message", ""))))
    else:
        m.state = _STATES[OperationState(e.payload["state"])]
    return m


def event_from_proto(operation_id: str, m: opb.OperationEvent) -> OperationEvent:
    """A received event; raises ValueError for one this client cannot read (no payload, unknown state)."""
    kind, at = m.WhichOneof("payload"), _seconds(m.time)
    if kind == "progress":
        return OperationEvent(operation_id, m.sequence, at, "progress",
                              {"done": m.progress.done, "total": m.progress.total, "message": m.progress.message})
    if kind == "log":
        return OperationEvent(operation_id, m.sequence, at, "log", {
            "level": _LEVEL_NAMES.get(m.log.level, "INFO"), "source": m.log.source, "message": m.log.message})
    state = _STATE_NAMES.get(m.state) if kind == "state" else None
    if state is None:
        raise ValueError(f"event {m.sequence} of {operation_id} carries nothing this client can read")
    return OperationEvent(operation_id, m.sequence, at, "state", {"state": state.value})
