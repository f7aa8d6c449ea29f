"""Knowledge queries behind ``KnowledgeService``: concepts, neighbourhoods, chains, tracebacks, named queries.

Domain code over an injected :class:`GraphStore`, with no gRPC in it: the servicer converts messages
to the request models here and the answers back. Every graph round trip goes through a catalog query
and gets the time left to the call (:class:`Deadline`) as its database time limit, so a query whose
caller gave up is stopped by the database too, not just abandoned.

The methods block (the graph drivers are synchronous); the server calls them on a thread pool.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from proda.errors import InputError, NotFound, QueryError, QueryTimeout
from proda.schema.catalog import Param, Query
from proda.schema.store.base import GraphStore
from proda.schema.store.writer import match_key
from proda.schema.vocabulary import Vocabulary, default_vocabulary


def _graph_text(value: str) -> str:
    # FalkorDB receives parameter values inside a text header that its parser reads up to the first
    # NUL, so a NUL would come back as the engine's parse error; no id or name in the graph holds one.
    if "\x00" in value:
        raise ValueError("holds a NUL character, which no id or name in the graph has")
    return value


# Text that is sent to the graph as a parameter: ids, names, disciplines.
GraphText = Annotated[str, AfterValidator(_graph_text)]
# Ids are short digests; 256 characters leaves room for foreign ids while keeping junk out of queries.
ElementId = Annotated[str, StringConstraints(min_length=1, max_length=256), AfterValidator(_graph_text)]
_ELEMENT_ID: TypeAdapter[str] = TypeAdapter(ElementId)
Direction = Literal["out", "in", "both"]
# Rows one breadth-first step may read, per neighbour asked for: edges back to concepts already seen
# also come back, so a step needs some slack over the number of new neighbours it can yield.
STEP_ROWS_PER_NEIGHBOUR = 5
MAX_STEP_ROWS = 10_000
# A run's disciplines are read whole (for its totals); a few dozen in practice.
MAX_DISCIPLINES = 10_000


log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


def _reason(error: ValidationError) -> tuple[str, str]:
    """The place (dotted) and the words of the first problem pydantic found."""
    first = error.errors()[0]
    # a validator's own words need no "Value error, " prefix
    return ".".join(str(p) for p in first["loc"]), first["msg"].removeprefix("Value error, ")


def validated(model: type[M], **values: Any) -> M:
    """``model`` built from ``values``; a validation failure becomes :class:`InputError` naming the field."""
    try:
        return model.model_validate(values)
    except ValidationError as e:
        where, message = _reason(e)
        raise InputError(f"{where or model.__name__}: {message}") from e


def element_id(value: str, field: str = "id") -> str:
    """``value`` checked as an element id (1 to 256 characters, no NUL) before any query sees it.

    Raises :class:`InputError` naming ``field`` (the request's name for it).
    """
    try:
        return _ELEMENT_ID.validate_python(value)
    except ValidationError as e:
        raise InputError(f"{field}: {_reason(e)[1]}") from e


@dataclass(frozen=True)
class Deadline:
    """When the caller stops waiting (``time.monotonic()``; None: never), and the server's cap per query."""

    at: float | None
    cap_ms: int

    @classmethod
    def after(cls, seconds: float | None, cap_ms: int) -> Deadline:
        """A deadline ``seconds`` from now (None: none)."""
        return cls(None if seconds is None else time.monotonic() + seconds, cap_ms)

    def timeout_ms(self) -> int:
        """The time limit for a query starting now; raises :class:`QueryTimeout` once the deadline passed."""
        if self.at is None:
            return self.cap_ms
        left = int((self.at - time.monotonic()) * 1000)
        if left <= 0:
            raise QueryTimeout("the call's deadline passed before the query could run")
        return min(self.cap_ms, left)


# ---------------------------------------------------------------------------------------------------
# requests (validated at the boundary) and answers
# ---------------------------------------------------------------------------------------------------
class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SearchRequest(_Request):
    """SearchConcepts: a name prefix, an optional discipline, one page."""

    query: GraphText = Field(min_length=1, max_length=200)
    discipline: GraphText | None = Field(default=None, max_length=200)
    page_size: int = Field(default=20, ge=1, le=200)
    after: tuple[GraphText, GraphText] | None = None  # (match key, id) of the last match of the previous page


class NeighbourRequest(_Request):
    """GetNeighbors: start concept, relation types (vocabulary names or synonyms), direction, depth, limit."""

    concept_id: ElementId
    relation_types: tuple[str, ...] = Field(default=(), max_length=64)
    direction: Direction = "both"
    depth: int = Field(default=1, ge=1, le=3)
    limit: int = Field(default=100, ge=1, le=1000)


class RunTracebackRequest(_Request):
    """Traceback of an evaluation run: the run (id or name), a discipline, the least support, nodes per kind."""

    run: ElementId
    discipline: GraphText | None = Field(default=None, min_length=1, max_length=200)
    min_support: int = Field(default=1, ge=1, le=1_000_000)
    top: int = Field(default=20, ge=1, le=1000)


class NamedQueryRequest(_Request):
    """RunNamedQuery: a catalog name, raw parameter values, a row limit (None: the server's cap)."""

    name: str = Field(min_length=1, max_length=200)
    params: dict[str, Any] = Field(default_factory=dict)
    row_limit: int | None = Field(default=None, ge=1)


@dataclass(frozen=True)
class ConceptRef:
    """A concept as lists and paths show it."""

    id: str
    name: str
    discipline: str


@dataclass(frozen=True)
class ConceptCard:
    """One concept with its place in the graph."""

    id: str
    name: str
    discipline: str
    aliases: tuple[str, ...]
    description: str
    out_degree: int
    in_degree: int
    chains: int
    chunk_ids: tuple[str, ...]


@dataclass(frozen=True)
class ConceptMatch:
    """A search hit: the canonical concept, and the node whose name matched (a merged duplicate or itself)."""

    concept: ConceptRef
    matched_id: str
    matched_name: str
    key: str


@dataclass(frozen=True)
class SearchPage:
    """One page of search hits and the keyset position after it (None on the last page)."""

    matches: tuple[ConceptMatch, ...]
    after: tuple[str, str] | None


@dataclass(frozen=True)
class RelationRef:
    """An L2 relation with its evidence."""

    id: str
    type: str
    subject_id: str
    object_id: str
    evidence: str
    chunk_id: str


@dataclass(frozen=True)
class Neighbour:
    """A concept reached from the start concept, how many steps away, and one shortest path to it."""

    concept: ConceptRef
    depth: int
    path: tuple[RelationRef, ...]


@dataclass(frozen=True)
class Neighbourhood:
    """GetNeighbors' answer; ``truncated`` when a limit cut it short."""

    neighbours: tuple[Neighbour, ...]
    truncated: bool


@dataclass(frozen=True)
class ChainStep:
    """One position of a chain: its concept, the relation leaving it (None last) and that relation's source."""

    position: int
    concept: ConceptRef
    relation: RelationRef | None
    document_id: str
    document_title: str


@dataclass(frozen=True)
class ChainDetail:
    """An L3 chain, step by step."""

    id: str
    discipline: str
    split: str
    steps: tuple[ChainStep, ...]


NodeKind = Literal["concept", "relation", "chunk", "document"]


@dataclass(frozen=True)
class TracebackNode:
    """A node behind a benchmark item and how many items (of any benchmark) pass it."""

    kind: NodeKind
    id: str
    label: str
    position: int
    benchmark_items: int


@dataclass(frozen=True)
class Traceback:
    """A benchmark item traced back to its chain's nodes, in chain order."""

    item_id: str
    benchmark: str
    chain_id: str
    discipline: str
    nodes: tuple[TracebackNode, ...]


FailureKind = Literal["discipline", "relation_type", "concept", "relation"]


@dataclass(frozen=True)
class Evidence:
    """Where a concept or relation of a run traceback comes from."""

    text: str  # a relation's evidence span ("" for a concept)
    chunk_id: str
    chunk_text: str  # the chunk's opening
    document_id: str
    document_title: str


@dataclass(frozen=True)
class FailureNode:
    """A node an evaluation run's answered items rest on, and how the run did on them."""

    kind: FailureKind
    id: str
    label: str
    discipline: str  # "" for a relation type, which spans disciplines
    items: int  # answered items resting on the node: the support of the failure rate
    wrong: int
    failure_rate: float
    fooled_by: tuple[tuple[str, int], ...]  # (distractor operator, wrong answers that chose it), most first
    sample_item_id: str  # one item answered wrong here ("" when none)
    evidence: Evidence | None = None


@dataclass(frozen=True)
class OperatorFailure:
    """How often the distractors of one operator fooled the model in a run."""

    operator: str
    offered: int  # answered items that offered one of its distractors
    fooled: int  # of those, items answered with it
    fooled_rate: float
    sample_item_id: str


@dataclass(frozen=True)
class RunTraceback:
    """An evaluation run traced back to the graph: each kind of node worst failure rate first."""

    run_id: str
    run_name: str
    model: str
    benchmark: str
    split: str
    discipline: str  # the filter ("" for all)
    items: int  # answered items (of the discipline)
    wrong: int
    disciplines: tuple[FailureNode, ...] = ()
    relation_types: tuple[FailureNode, ...] = ()
    concepts: tuple[FailureNode, ...] = ()
    relations: tuple[FailureNode, ...] = ()
    operators: tuple[OperatorFailure, ...] = ()

    @property
    def nodes(self) -> tuple[FailureNode, ...]:
        """Every node, kind by kind: disciplines, relation types, concepts, relations."""
        return self.disciplines + self.relation_types + self.concepts + self.relations


@dataclass(frozen=True)
class QueryResult:
    """Rows of a named query as lists aligned with ``columns``; ``truncated`` when the row limit cut them."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    truncated: bool


def prefix_upper_bound(prefix: str) -> str | None:
    """The least string above every string starting with ``prefix``: its last character replaced by the
    next code point, skipping what cannot be encoded (surrogates) or would sort oddly (U+0080 after
    U+007F compares below ASCII in FalkorDB's byte order); None when no such bound exists."""
    for i in range(len(prefix) - 1, -1, -1):
        nxt = ord(prefix[i]) + 1
        if nxt == 0x80 or 0xD800 <= nxt <= 0xDFFF or nxt > 0x10FFFF:
            continue
        return prefix[:i] + chr(nxt)
    return None


# Doubles hold every integer up to 2**53 exactly: a client whose numbers are all doubles (JavaScript)
# can still pass an int parameter, and nothing is rounded on the way.
_EXACT_INTS = 1 << 53


def _kind(value: Any) -> str:
    """How a parameter value reads in a message: ``a float (2.5)``, ``a list``..."""
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"{'an integer' if isinstance(value, int) else 'a float'} ({value!r})"
    return "a list" if isinstance(value, list) else "a map" if isinstance(value, dict) else type(value).__name__


def _typed(p: Param, value: Any) -> Any:
    """``value`` as declared parameter ``p`` takes it; raises ValueError saying what was given instead."""
    if value is None or p.type == "any":
        return value
    if isinstance(value, str):
        return value  # text is the CLI's form of every type: the header's own rules parse it (Param.coerce)
    if p.type == "int" and isinstance(value, float) and value.is_integer() and abs(value) <= _EXACT_INTS:
        return int(value)
    if p.type == "float" and isinstance(value, int) and not isinstance(value, bool) and abs(value) <= _EXACT_INTS:
        return float(value)
    wanted: dict[str, type | tuple[type, ...]] = {"string": str, "int": int, "float": float, "bool": bool,
                                                  "list": list, "map": dict}
    if isinstance(value, wanted[p.type]) and not (p.type in ("int", "float") and isinstance(value, bool)):
        return value
    raise ValueError(f"got {_kind(value)}")


# Parameters a query uses as a row count: the databases refuse a negative one when the query runs.
_ROW_COUNT = re.compile(r"\b(?:LIMIT|SKIP)\s+\$([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)


def row_count_parameters(query: Query) -> set[str]:
    """The parameters that some text of ``query`` uses in ``LIMIT $p`` or ``SKIP $p``."""
    return {name for text in query.texts.values() for name in _ROW_COUNT.findall(text)}


def bind_parameters(query: Query, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` bound to catalog query ``query``, typed strictly by its header.

    A value of the declared type is taken as it is, and text is parsed by the header's rules, as
    ``proda query NAME key=value`` does; any other value (2.5 or true for an int, a list for a string)
    is refused rather than converted, since a conversion would run a query nobody asked for. A null
    value is a value not given (the default applies, or a required parameter is missing). Integral
    doubles within 2**53 count as ints, and such ints as doubles: that conversion is exact. A row
    count (``LIMIT $p``, ``SKIP $p`` in the query) must not be negative. Raises :class:`InputError`
    naming the parameter (and an unknown, missing or unparseable one).

    What passes here is what the query can take: a catalog query the database still refuses is the
    server's fault, not the caller's.
    """
    declared = {p.name: p for p in query.params}
    typed: dict[str, Any] = {}
    for name, value in values.items():
        p = declared.get(name)
        if value is None and p is not None:
            continue  # null is "not given", as an unset field is: the header's default applies
        if p is None:
            typed[name] = value  # Query.bind names every unknown parameter
            continue
        try:
            typed[name] = _typed(p, value)
        except ValueError as e:
            raise InputError(f"parameter {name!r} must be {p.type}: {e}", source=f"query {query.name}") from e
    bound = query.bind(typed)
    for name in sorted(row_count_parameters(query)):
        value = bound.get(name)
        if isinstance(value, int) and value < 0:
            raise InputError(f"parameter {name!r} counts rows: {value} is negative", source=f"query {query.name}")
    return bound


def _refused_contents(query: Query, given: Mapping[str, Any], error: QueryError) -> InputError | None:
    """The caller's error for a catalog query the database refused, if the caller can be the cause.

    Headers type a list or a map but not what it holds (``rows: list - maps {chain_id, pos...}``),
    so the contents of such a value are the one thing :func:`bind_parameters` cannot check: a query
    given one is taken to have been refused for it, and the answer quotes the header. Otherwise
    (None) every value was checked, and the refusal is the server's. The database's own words go to
    the server log, never to the caller.
    """
    compound = [p for p in query.params if given.get(p.name) is not None and p.type in ("list", "map", "any")]
    if not compound:
        return None
    log.info("query %s refused the contents of %s: %s", query.name, ", ".join(p.name for p in compound), error)
    expected = "; ".join(f"{p.name}: {p.type}{' - ' + p.doc if p.doc else ''}" for p in compound)
    return InputError(f"the database refused what parameter(s) {', '.join(repr(p.name) for p in compound)} hold; "
                      f"the query takes {expected}", source=f"query {query.name}")


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _fooled_by(value: Any) -> tuple[tuple[str, int], ...]:
    """A row's ``fooled_by`` list of {operator, wrong} maps, most wrong answers first."""
    counts = [(str(f["operator"]), int(f["wrong"])) for f in value or () if f.get("operator") is not None]
    return tuple(sorted(counts, key=lambda c: (-c[1], c[0])))


def _failure(kind: FailureKind, node_id: Any, label: Any, discipline: Any, row: Mapping[str, Any],
             evidence: Evidence | None = None) -> FailureNode:
    return FailureNode(kind=kind, id=_str(node_id), label=_str(label), discipline=_str(discipline),
                       items=int(row["items"]), wrong=int(row["wrong"]), failure_rate=float(row["failure_rate"]),
                       fooled_by=_fooled_by(row["fooled_by"]), sample_item_id=_str(row["sample_item_id"]),
                       evidence=evidence)


def _evidence(row: Mapping[str, Any], text: str) -> Evidence | None:
    if row["chunk_id"] is None and not text:
        return None
    return Evidence(text=text, chunk_id=_str(row["chunk_id"]), chunk_text=_str(row["chunk_text"]),
                    document_id=_str(row["document_id"]), document_title=_str(row["document_title"]))


def _edge_label(row: Mapping[str, Any]) -> str:
    """``subject -type-> object``; an edge deleted since the run is named by its id."""
    if row["relation_type"] is None:
        return f"{row['relation_id']} (no longer in the graph)"
    return f"{_str(row['subject_name'])} -{row['relation_type']}-> {_str(row['object_name'])}"


class Knowledge:
    """The read side of the knowledge graph, as the gRPC API offers it."""

    def __init__(self, store: GraphStore, *, max_rows: int = 10_000, vocabulary: Vocabulary | None = None) -> None:
        self.store = store
        self.max_rows = max_rows
        self.vocabulary = vocabulary or default_vocabulary()

    def _query(self, name: str, params: Mapping[str, Any], deadline: Deadline) -> list[dict[str, Any]]:
        return self.store.query(name, params, timeout_ms=deadline.timeout_ms())

    # -- concepts ------------------------------------------------------------------------------------
    def concept(self, concept_id: str, deadline: Deadline) -> ConceptCard:
        """The concept ``concept_id``; raises :class:`NotFound` or :class:`InputError` (empty or overlong id)."""
        cid = element_id(concept_id)
        rows = self._query("concept", {"id": cid}, deadline)
        if not rows:
            raise NotFound(f"no concept {cid!r}")
        r = rows[0]
        return ConceptCard(id=r["id"], name=_str(r["name"]), discipline=_str(r["discipline"]),
                           aliases=tuple(r["aliases"] or ()), description=_str(r["description"]),
                           out_degree=int(r["out_degree"]), in_degree=int(r["in_degree"]), chains=int(r["chains"]),
                           chunk_ids=tuple(r["chunk_ids"] or ()))

    def search(self, request: SearchRequest, deadline: Deadline) -> SearchPage:
        """One page of concepts whose match key starts with the query's; raises :class:`InputError` for a
        query with nothing searchable left after normalisation (e.g. only punctuation)."""
        prefix = match_key(request.query)
        if not prefix:
            raise InputError(f"query {request.query!r} has nothing to search for once normalised")
        after_key, after_id = request.after or ("", "")
        # the query needs a bound to seek a range; a prefix of only unbumpable characters gets the highest
        # character FalkorDB compares reliably after it
        upper = prefix_upper_bound(prefix) or prefix + "\uffff"
        rows = self._query("concept_search", {
            "prefix": prefix, "from_key": max(prefix, after_key), "upper": upper,
            "after_key": after_key, "after_id": after_id, "discipline": request.discipline,
            "limit": request.page_size + 1,  # one more tells whether another page exists
        }, deadline)
        matches = tuple(
            ConceptMatch(concept=ConceptRef(r["id"], _str(r["name"]), _str(r["discipline"])),
                         matched_id=r["matched_id"], matched_name=_str(r["matched_name"]), key=r["key"])
            for r in rows[: request.page_size])
        more = len(rows) > request.page_size
        return SearchPage(matches, (matches[-1].key, matches[-1].matched_id) if more and matches else None)

    def neighbours(self, request: NeighbourRequest, deadline: Deadline) -> Neighbourhood:
        """Concepts within ``depth`` relation steps, breadth first, each with one shortest path.

        One catalog query per step over the whole frontier, so the cost follows the neighbourhood's
        size, never the graph's. Raises :class:`NotFound` for an unknown start concept and
        :class:`InputError` (an :class:`~proda.errors.UnknownRelationType`) for an unknown relation type.
        """
        types = sorted({self.vocabulary.require(t) for t in request.relation_types}) or None
        start = request.concept_id  # an ElementId: validated with the request
        paths: dict[str, tuple[RelationRef, ...]] = {start: ()}
        found: list[Neighbour] = []
        frontier = [start]
        truncated = False
        step_limit = min(MAX_STEP_ROWS, request.limit * STEP_ROWS_PER_NEIGHBOUR)
        for depth in range(1, request.depth + 1):
            if not frontier:
                break
            rows = self._query("concept_step", {"ids": frontier, "types": types, "direction": request.direction,
                                                "limit": step_limit + 1}, deadline)
            if depth == 1 and not rows:
                # the first step matched the start concept or nothing: only then is its existence a question
                # (one query per call saved on the hot path)
                self.concept(start, deadline)  # NotFound for an unknown concept; else it has no neighbours
            if len(rows) > step_limit:
                truncated, rows = True, rows[:step_limit]
            frontier = []
            for r in rows:
                nid = r["neighbour_id"]
                if nid in paths:
                    continue
                if len(found) == request.limit:
                    truncated = True
                    break
                rel = RelationRef(id=r["relation_id"], type=r["type"], subject_id=r["subject_id"],
                                  object_id=r["object_id"], evidence=_str(r["evidence"]), chunk_id=_str(r["chunk_id"]))
                paths[nid] = (*paths[r["from_id"]], rel)
                found.append(Neighbour(ConceptRef(nid, _str(r["neighbour_name"]), _str(r["neighbour_discipline"])),
                                       depth, paths[nid]))
                frontier.append(nid)
            if truncated:
                break
        return Neighbourhood(tuple(found), truncated)

    # -- chains and tracebacks -----------------------------------------------------------------------
    def chain(self, chain_id: str, deadline: Deadline) -> ChainDetail:
        """The chain ``chain_id`` step by step; raises :class:`NotFound` or :class:`InputError`."""
        cid = element_id(chain_id)
        rows = self._query("chain_detail", {"id": cid}, deadline)
        if not rows:
            raise NotFound(f"no chain {cid!r}")
        discipline = _str(rows[0]["discipline"])
        ids = [r["concept_id"] for r in rows]
        steps = []
        for i, r in enumerate(rows):
            relation = None
            if r["relation_id"] is not None:
                relation = RelationRef(id=r["relation_id"], type=_str(r["relation_type"]), subject_id=r["concept_id"],
                                       object_id=ids[i + 1] if i + 1 < len(ids) else "",
                                       evidence=_str(r["evidence"]), chunk_id=_str(r["chunk_id"]))
            steps.append(ChainStep(position=int(r["pos"]),
                                   concept=ConceptRef(r["concept_id"], _str(r["concept_name"]), discipline),
                                   relation=relation, document_id=_str(r["document_id"]),
                                   document_title=_str(r["document_title"])))
        return ChainDetail(id=rows[0]["chain_id"], discipline=discipline, split=_str(rows[0]["split"]),
                           steps=tuple(steps))

    def traceback_item(self, item_id: str, deadline: Deadline) -> Traceback:
        """Benchmark item ``item_id`` traced to its chain's concepts, relations, chunks and documents.

        Raises :class:`NotFound` when the item does not exist or its chain is gone.
        """
        iid = element_id(item_id, "item_id")
        rows = self._query("traceback_item", {"id": iid}, deadline)
        if not rows:
            raise NotFound(f"no benchmark item {iid!r} with a chain in the graph")
        nodes: list[TracebackNode] = []
        seen: set[tuple[str, str]] = set()

        def add(kind: NodeKind, node_id: Any, label: Any, pos: int, items: Any = 0) -> None:
            if node_id is None or (kind, node_id) in seen:
                return
            seen.add((kind, node_id))
            nodes.append(TracebackNode(kind, str(node_id), _str(label), pos, int(items or 0)))

        for r in rows:
            pos = int(r["pos"])
            add("concept", r["concept_id"], r["concept_name"], pos, r["concept_items"])
            add("relation", r["relation_id"], r["relation_type"], pos, r["relation_items"])
            add("chunk", r["chunk_id"], "", pos)
            add("document", r["document_id"], r["document_title"], pos)
        first = rows[0]
        return Traceback(item_id=first["item_id"], benchmark=_str(first["benchmark"]), chain_id=first["chain_id"],
                         discipline=_str(first["discipline"]), nodes=tuple(nodes))

    def traceback_run(self, request: RunTracebackRequest, deadline: Deadline) -> RunTraceback:
        """Evaluation run ``request.run`` (id or name) traced back to the disciplines, relation types,
        concepts and relation edges its answered items rest on, each kind worst failure rate first
        (``top`` of each, with at least ``min_support`` items), and per distractor operator how often it
        fooled the model. A run without wrong answers (in the discipline) comes back with no nodes.

        Raises :class:`NotFound` naming the run when no run has that id or name.
        """
        runs = self._query("eval_runs", {"run": request.run, "limit": 1}, deadline)
        if not runs:
            raise NotFound(f"no evaluation run {request.run!r} (looked up by id and by name); "
                           "`proda query eval_runs` lists the runs")
        run = runs[0]
        params = {"run": run["id"], "discipline": request.discipline, "min_support": request.min_support,
                  "limit": request.top}
        # every discipline once, without the filters, so the totals cover the whole run (or discipline)
        per_discipline = self._query("traceback_run_disciplines",
                                     {**params, "min_support": 1, "limit": MAX_DISCIPLINES}, deadline)
        items = sum(int(r["items"]) for r in per_discipline)
        wrong = sum(int(r["wrong"]) for r in per_discipline)
        trace = RunTraceback(run_id=run["id"], run_name=_str(run["name"]), model=_str(run["model"]),
                             benchmark=_str(run["benchmark"]), split=_str(run["split"]),
                             discipline=request.discipline or "", items=items, wrong=wrong)
        if wrong == 0:
            return trace
        disciplines = [_failure("discipline", r["discipline"], r["discipline"], r["discipline"], r)
                       for r in per_discipline if int(r["items"]) >= request.min_support][: request.top]
        types = [_failure("relation_type", r["relation_type"], r["relation_type"], "", r)
                 for r in self._query("traceback_run_relation_types", params, deadline)]
        concepts = [_failure("concept", r["concept_id"], r["concept_name"], r["discipline"], r,
                             _evidence(r, "")) for r in self._query("traceback_run_concepts", params, deadline)]
        relations = [_failure("relation", r["relation_id"], _edge_label(r), r["discipline"], r,
                              _evidence(r, _str(r["evidence"])))
                     for r in self._query("traceback_run_edges", params, deadline)]
        operators = [OperatorFailure(operator=_str(r["operator"]), offered=int(r["offered"]), fooled=int(r["fooled"]),
                                     fooled_rate=float(r["fooled_rate"]), sample_item_id=_str(r["sample_item_id"]))
                     for r in self._query("traceback_run_operators", params, deadline)]
        return replace(trace, disciplines=tuple(disciplines), relation_types=tuple(types), concepts=tuple(concepts),
                       relations=tuple(relations), operators=tuple(operators))

    # -- the named query catalog ---------------------------------------------------------------------
    def named_queries(self) -> list[Query]:
        """The catalog's read-only queries, by name: the ones :meth:`run_named` runs."""
        return [q for q in self.store.catalog if q.read_only]

    def run_named(self, request: NamedQueryRequest, deadline: Deadline) -> QueryResult:
        """Run a read-only catalog query with parameters checked against its header.

        Raises :class:`NotFound` for a name not in the catalog, :class:`InputError` for a write query
        or a bad parameter (see :func:`bind_parameters`). The query runs in a read-only transaction
        whatever its header says. The
        store returns whole results, so the row cap bounds the answer, not the database's work: the
        time limit does that, and catalog queries that can return many rows take a ``limit``.
        """
        q = self.store.catalog.get(request.name)
        if not q.read_only:
            raise InputError(f"query {q.name!r} writes to the graph; RunNamedQuery runs read-only catalog queries only")
        bound = bind_parameters(q, request.params)
        row_limit = min(request.row_limit or self.max_rows, self.max_rows)
        try:
            rows = self.store.run(q.text(self.store.backend), bound, read_only=True, timeout_ms=deadline.timeout_ms())
        except QueryError as e:
            refused = _refused_contents(q, request.params, e)
            if refused is None:
                raise
            raise refused from e

        columns = q.columns or (tuple(rows[0]) if rows else ())
        kept = rows[:row_limit]
        return QueryResult(columns=tuple(columns), rows=tuple(tuple(r.get(c) for c in columns) for r in kept),
                           truncated=len(rows) > row_limit)
