"""Write safety for Neo4j: lock-ordered ``UNWIND`` batches inside retried managed transactions.

Several writers (shard processes, Ray workers, threads of one service) may send ``UNWIND $rows``
batches at the same time, and their rows may MERGE or MATCH the same nodes. Neo4j locks a node when a
transaction changes its properties or labels, and locks the (sparse) end nodes of a relationship it
creates or deletes; it holds every lock until commit. Two transactions that take two such locks in
opposite orders deadlock, and the server then aborts one with
``Neo.TransientError.Transaction.DeadlockDetected``. Three measures apply, each where it works:

**Ordering** (this module, every catalog write): before a batch is sent, the list parameters that the
statement ``UNWIND``\\ s are sorted by a deterministic *lock key* (:func:`lock_ordered`), so every writer
walks the nodes in the same order. The key is derived from the statement text (:func:`lock_keys`):

1. the row fields the statement uses as a node's ``{id: row.<field>}``, those of labels that writers
   share (:data:`SHARED_LABELS`: concepts, which chunks of many shards link to) first, then the
   others, each group in the order the text names them;
2. then every other field of the rows named ``id`` or ``*_id`` (alphabetically), so the order is total
   for distinct rows;
3. a list of plain ids (``UNWIND $ids AS cid MATCH (:Chain {id: cid})``) is sorted by value.

Values compare as (kind, value), so a missing field (null) sorts first and mixed kinds never raise.
The sort is stable: rows with equal keys keep the caller's order (a later duplicate still wins).
Where every row locks at most one node that other writers also lock (node upserts such as
``upsert_concepts``, or ``link_mentions``, whose chunk end is owned by one shard), sorting gives all
writers one global order over the shared nodes, so they cannot deadlock on each other. Where a row
locks two shared nodes (``upsert_relations`` links two concepts), no order of rows orders both ends
globally: ``A: (c1, c9), (c5, c2)`` against ``B: (c2, c7), (c5, c9)`` can still deadlock. Sorting then
only narrows the window; the next two measures cover what remains.

**Partitioning** (the callers' sharding): writers that own disjoint sets of the shared nodes never
contend. ProDa's batch stages shard by discipline and concept ids include the discipline, so two
shards of one run never lock the same concept; contention comes from overlapping runs on one
discipline (an extraction and a merge, two services). A stage that splits one discipline across
writers must partition by the shared key (e.g. by concept id), not by chunk, for its edge batches.

**Retry** (the driver): every write runs as a managed transaction (``session.execute_write``), whose
driver loop retries errors the driver marks retryable (``TransientError`` such as DeadlockDetected,
a lost leader, a dropped connection) with exponential backoff and jitter until
``max_transaction_retry_time`` has passed, re-running the whole transaction function with the same
batch (same rows, same size, same order). Non-retryable errors (syntax, constraint violation, a
timeout) surface at once.

Row order is therefore not part of a write query's meaning on Neo4j: a catalog write must give the
same graph for any order of its rows (MERGE by deterministic ids gives that; ``apply_merges`` relies
on its caller never putting a concept in one batch as both duplicate and canonical). Rows returned by
such a query come back in the sorted order. Nested lists inside a row (``UNWIND row.options``) are
left as they are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# Labels whose nodes several writers MERGE or MATCH at once: concepts are linked from the chunks of
# every shard that mentions them, so their keys lead the sort.
SHARED_LABELS: tuple[str, ...] = ("Concept",)

_UNWIND = re.compile(r"\bUNWIND\s+\$(?P<param>[A-Za-z_]\w*)\s+AS\s+(?P<var>[A-Za-z_]\w*)", re.IGNORECASE)


@dataclass(frozen=True)
class LockKey:
    """How one unwound list parameter is ordered.

    ``fields``: the row fields that key nodes, shared labels first (empty when the list holds plain
    ids); ``plain``: whether the list's elements are themselves node ids.
    """

    param: str
    fields: tuple[str, ...]
    plain: bool = False


def _node_keys(cypher: str, var: str) -> list[tuple[frozenset[str], str | None]]:
    """``(labels, field)`` for each node pattern ``(x:Label {id: var.field, ...})`` in text order;
    ``field`` is None for ``{id: var}`` (the unwound element is the id)."""
    pattern = re.compile(
        r"\(\s*\w*\s*(?P<labels>(?::\s*\w+\s*)+)\{\s*id\s*:\s*" + re.escape(var)
        + r"(?:\s*\.\s*(?P<field>\w+))?\s*[,}]"
    )
    found = []
    for m in pattern.finditer(cypher):
        labels = frozenset(part.strip() for part in m.group("labels").split(":") if part.strip())
        found.append((labels, m.group("field")))
    return found


@lru_cache(maxsize=512)
def lock_keys(cypher: str, shared_labels: tuple[str, ...] = SHARED_LABELS) -> tuple[LockKey, ...]:
    """The lock key of every list parameter that ``cypher`` unwinds directly (``UNWIND $p AS v``)."""
    keys: dict[str, LockKey] = {}
    for m in _UNWIND.finditer(cypher):
        param, var = m.group("param"), m.group("var")
        if param in keys:  # unwound again further on (one key per list: the first use decides)
            continue
        nodes = _node_keys(cypher[m.end():], var)
        plain = any(field is None for _, field in nodes)
        shared: list[str] = []
        other: list[str] = []
        for labels, field in nodes:
            if field is None:
                continue
            group = shared if labels & set(shared_labels) else other
            if field not in shared and field not in other:
                group.append(field)
        keys[param] = LockKey(param, (*shared, *other), plain)
    return tuple(keys.values())


def _rank(value: Any) -> tuple[int, Any]:
    """A total order over parameter values: null, booleans, numbers, strings, then anything else."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, int | float):
        return (2, value)
    if isinstance(value, str):
        return (3, value)
    return (4, json.dumps(value, sort_keys=True, default=str))


def _id_fields(rows: Iterable[Mapping[str, Any]], declared: Sequence[str]) -> tuple[str, ...]:
    """``declared`` followed by the rows' other ``id`` / ``*_id`` fields, alphabetically."""
    extra: set[str] = set()
    for row in rows:
        extra.update(k for k in row if (k == "id" or k.endswith("_id")) and k not in declared)
    return (*declared, *sorted(extra))


def order_rows(rows: Sequence[Any], key: LockKey) -> list[Any]:
    """``rows`` sorted by ``key`` (stable); a list that is not all maps (or all plain ids) is kept as is."""
    if key.plain and all(not isinstance(r, Mapping | list) for r in rows):
        return sorted(rows, key=_rank)
    if not rows or not all(isinstance(r, Mapping) for r in rows):
        return list(rows)
    fields = _id_fields(rows, key.fields)
    if not fields:
        return list(rows)
    return sorted(rows, key=lambda r: tuple(_rank(r.get(f)) for f in fields))


def lock_ordered(cypher: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with each list that ``cypher`` unwinds sorted by its lock key; a new dict (the
    caller's lists are not reordered in place). Other parameters pass through unchanged."""
    out = dict(params)
    for key in lock_keys(cypher):
        value = out.get(key.param)
        if isinstance(value, list) and len(value) > 1:
            out[key.param] = order_rows(value, key)
    return out
