"""``GRAPH.BULK`` records built a column at a time in Arrow's compute kernels.

The binary bulk format is row-major: a record is its edge ends (if any), then per property a type
byte and a payload. Arrow builds exactly that without a Python step per value: each column becomes
an Arrow array of its encoded payloads (strings as UTF-8, numbers as their native 8 bytes through
numpy), ``binary_join_element_wise`` glues a row's parts together in C++ (the constant type bytes
and terminators are scalars), and the joined array's data buffer *is* the token body, cut at record
boundaries read from its offsets. A column whose values have no single shape (say ints mixed with
floats) falls back to :class:`~proda.schema.store.falkordb_bulk.ValueEncoder`, value by value.

Byte-for-byte the value encoding (a test compares both on every column shape); at 1M elements it
takes the client's encoding from most of a bulk load's client time to a small part of it
(``benchmarks/graph_ingest.py`` times both).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import chain
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # ships no stubs
import pyarrow.compute as pc  # type: ignore[import-untyped]

if TYPE_CHECKING:
    from proda.schema.store.falkordb_bulk import ValueEncoder

_BIN = pa.binary()
_EMPTY = pa.scalar(b"", _BIN)


class ColumnEncoder:
    """Records of one load as Arrow binary arrays; constant parts come from ``values``' type codes."""

    def __init__(self, values: ValueEncoder) -> None:
        self.values = values
        self.str_code = values.str_code
        self.long_code, self.double_code = values.long_code, values.double_code
        self.true, self.false = pa.scalar(values.true, _BIN), pa.scalar(values.false, _BIN)
        self.array_code = values.array_code
        self.list_sep = "\x00" + values.str_code.decode()

    # --- one column -> parts of a record (bytes constants or arrays) ---------------------------------------

    def column(self, values: Sequence[Any]) -> list[bytes | pa.Array]:
        kinds = set(map(type, values))
        if kinds == {str}:
            return [self.str_code, pa.array(values, pa.string()).cast(_BIN), b"\x00"]
        if kinds == {type(None)}:
            return [b"\x00"]
        if kinds == {int}:
            return [self.long_code, _fixed(np.array(values, dtype="=i8"))]
        if kinds == {float}:
            return [self.double_code, _fixed(np.array(values, dtype="=f8"))]
        if kinds == {bool}:
            return [pc.if_else(pa.array(values, pa.bool_()), self.true, self.false)]
        if kinds == {str, type(None)}:
            arr = pa.array(values, pa.string()).cast(_BIN)
            joined = pc.binary_join_element_wise(pa.scalar(self.str_code, _BIN), arr, pa.scalar(b"\x00", _BIN), _EMPTY)
            return [pc.fill_null(joined, pa.scalar(b"\x00", _BIN))]
        if kinds == {list} and set(map(type, chain.from_iterable(values))) <= {str}:
            return [self._str_lists(values)]
        return [pa.array([self.values.value(v) for v in values], _BIN)]

    def _str_lists(self, values: Sequence[list[str]]) -> pa.Array:
        """Arrays of strings: a 9-byte head (array code, length), then each element typed and terminated."""
        lengths = np.fromiter(map(len, values), dtype="=i8", count=len(values))
        offsets = np.zeros(len(values) + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        arr = pa.ListArray.from_arrays(pa.array(offsets), pa.array(list(chain.from_iterable(values)), pa.string()))
        head = np.empty(len(values), dtype=np.dtype([("code", "u1"), ("n", "=i8")]))
        head["code"], head["n"] = self.array_code, lengths
        body = pc.binary_join_element_wise(pa.scalar(self.str_code, _BIN),
                                           pc.binary_join(arr, self.list_sep).cast(_BIN),
                                           pa.scalar(b"\x00", _BIN), _EMPTY)
        body = pc.if_else(pa.array(lengths > 0), body, _EMPTY)
        return pc.binary_join_element_wise(_fixed(head), body, _EMPTY)

    # --- rows -> records ---------------------------------------------------------------------------------

    def records(self, rows: Sequence[tuple[Any, ...]], width: int, ends: pa.Array | None = None) -> pa.Array:
        """One binary record per row: ``ends`` (packed edge ends) then the row's encoded values."""
        parts: list[bytes | pa.Array] = [ends] if ends is not None else []
        for col in (zip(*rows, strict=True) if width else ()):
            parts.extend(self.column(col))
        merged: list[Any] = []
        for p in parts:  # adjacent constants become one scalar
            if isinstance(p, bytes) and merged and isinstance(merged[-1], bytes):
                merged[-1] += p
            else:
                merged.append(p)
        if not any(isinstance(p, pa.Array) for p in merged):
            return pa.array([b"".join(merged)] * len(rows), _BIN)
        if len(merged) == 1:
            return merged[0].cast(_BIN)
        args = [pa.scalar(p, _BIN) if isinstance(p, bytes) else p.cast(_BIN) for p in merged]
        return pc.binary_join_element_wise(*args, _EMPTY)

    @staticmethod
    def ends(src: np.ndarray, dst: np.ndarray) -> pa.Array:
        """Packed (source, destination) node indexes, 16 bytes an edge."""
        both = np.empty((len(src), 2), dtype="=u8")
        both[:, 0], both[:, 1] = src, dst
        return _fixed(both)


def node_indexes(ids: Sequence[str], index: dict[str, int]) -> np.ndarray:
    """Position of each of ``ids`` among the nodes in creation order (``index``); every id must be there.
    A dict probed from C (``np.fromiter`` over ``map``): Arrow's ``index_in`` rebuilds its hash table of
    every node id on each call, which measured several times slower for the edge tables of one load."""
    try:
        return np.fromiter(map(index.__getitem__, ids), dtype="=u8", count=len(ids))
    except KeyError as e:
        raise ValueError(f"edge end {e.args[0]!r} is not a node of this load") from None


def _fixed(arr: np.ndarray) -> pa.Array:
    """Each row of ``arr`` as one binary value of its raw bytes (no copy into Python objects)."""
    arr = np.ascontiguousarray(arr)
    width = arr.itemsize * (arr.shape[1] if arr.ndim == 2 else 1)
    n = arr.shape[0]
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), n, [None, pa.py_buffer(arr)]).cast(_BIN)


def cut(header: bytes, records: pa.Array, limit: int) -> Iterator[tuple[bytes, int]]:
    """``records`` as tokens of at most ``limit`` bytes (a record larger than that goes alone): the header,
    then a run of whole records copied straight out of the array's data buffer."""
    n = len(records)
    if not n:
        return
    offsets = np.frombuffer(records.buffers()[1], dtype=np.int32, count=n + 1, offset=records.offset * 4)
    data = records.buffers()[2]
    view = memoryview(data) if data is not None else memoryview(b"")
    room = max(limit - len(header), 1)
    start = 0
    while start < n:
        end = int(np.searchsorted(offsets, offsets[start] + room, side="left")) - 1
        end = min(max(end, start + 1), n)
        yield header + view[offsets[start]:offsets[end]], end - start
        start = end


__all__ = ["ColumnEncoder", "cut", "node_indexes"]
