"""Neo4j write safety without a Neo4j server: managed transactions, retries, lock-ordered batches.

What is tested, and how:

* **Our layer, against a fake Session** (:class:`RetryingSession`): a small stand-in for the driver's
  ``Session`` whose ``execute_write`` / ``execute_read`` follow the driver's documented contract
  (run the transaction function; on an error whose ``is_retryable()`` is true, run it again until
  ``max_transaction_retry_time`` is spent, on a simulated clock; raise anything else at once). The
  errors are the driver's own classes, built from server codes. These tests show that the store
  sends writes through ``execute_write`` and reads through ``execute_read``, hands the retry budget
  to the session, keeps a retried batch identical, lets a non-retryable error through at once and
  names the catalog query in the error it raises, and sorts rows by their lock key.
* **The driver's real retry loop**, against :class:`BoltStub`: a loopback server that speaks just
  enough Bolt 5.0 (handshake, HELLO, BEGIN, RUN, PULL, COMMIT, ROLLBACK, RESET, GOODBYE) for managed
  transactions, answering RUN with records or with a FAILURE carrying a Neo4j error code. The store
  builds a real ``neo4j`` driver for it, so the retry, its backoff (about a second between attempts)
  and the ``max_transaction_retry_time`` budget are the driver's own code; the stub records what
  reached the wire (transaction mode, text, parameters) per attempt.

Not tested here: Neo4j's own locking. Whether sorted batches avoid a deadlock depends on which
locks the server takes (docs in :mod:`proda.schema.store.neo4j_writes`); that needs a real server with
concurrent writers, which the conformance suite reaches only when PRODA_NEO4J_URL is set.
"""

from __future__ import annotations

import itertools
import random
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, ClassVar

import neo4j
import pytest
from neo4j import exceptions as ne

from proda.errors import ConfigError, GraphUnavailable, QueryError
from proda.schema.catalog import default_catalog
from proda.schema.store.neo4j_store import Neo4jStore
from proda.schema.store.neo4j_writes import LockKey, lock_keys, lock_ordered, order_rows
from tests.neo4j_errors import server_error

URL = "neo4j://db.example:7687"
DEADLOCK = "Neo.TransientError.Transaction.DeadlockDetected"
CONSTRAINT = "Neo.ClientError.Schema.ConstraintValidationFailed"




def text_of(name: str) -> str:
    return default_catalog().get(name).text("neo4j")


# --- a fake of the driver's Session contract --------------------------------------------------------


@dataclass
class Attempt:
    """One run of a transaction function: its mode and what it sent."""

    mode: str
    text: str
    params: dict[str, Any]


Respond = Callable[[str, dict[str, Any]], list[dict[str, Any]] | BaseException]


@dataclass
class FakeDriver:
    respond: Respond
    attempts: list[Attempt] = field(default_factory=list)
    session_configs: list[dict[str, Any]] = field(default_factory=list)

    def session(self, **config: Any) -> RetryingSession:
        self.session_configs.append(config)
        return RetryingSession(self, config.get("max_transaction_retry_time", 30.0))

    def close(self) -> None:
        return None


@dataclass
class RetryingSession:
    """The driver's managed-transaction contract, with a simulated clock instead of sleeping.

    Each failed attempt costs one simulated second of backoff; the loop gives up, re-raising the
    last error, once more than ``max_retry_time`` seconds have passed since the first failure (the
    driver starts its timer after the first attempt, as here).
    """

    driver: FakeDriver
    max_retry_time: float

    def __enter__(self) -> RetryingSession:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute_write(self, work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self._loop("write", work, *args, **kwargs)

    def execute_read(self, work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self._loop("read", work, *args, **kwargs)

    def _loop(self, mode: str, work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        waited = 0.0
        while True:
            try:
                return work(FakeTx(self.driver, mode), *args, **kwargs)
            except (ne.Neo4jError, ne.DriverError) as error:
                if not error.is_retryable() or waited > self.max_retry_time:
                    raise
            waited += 1.0


@dataclass
class FakeTx:
    driver: FakeDriver
    mode: str

    def run(self, query: str, parameters: dict[str, Any] | None = None, **kw: Any) -> list[neo4j.Record]:
        params = dict(parameters or {})
        self.driver.attempts.append(Attempt(self.mode, query, params))
        answer = self.driver.respond(query, params)
        if isinstance(answer, BaseException):
            raise answer
        return [neo4j.Record(row) for row in answer]  # type: ignore[no-untyped-call]  # untyped in the driver


def failing_first(n: int, code: str = DEADLOCK, message: str = "attempt failed") -> Respond:
    """Answers with a fresh server error ``code`` the first ``n`` times, then with the row count."""
    calls = itertools.count()

    def respond(text: str, params: dict[str, Any]) -> list[dict[str, Any]] | BaseException:
        if next(calls) < n:
            return server_error(code, message)
        return [{"written": len(params.get("rows", []))}]

    return respond


def make_store(respond: Respond, **kwargs: Any) -> tuple[Neo4jStore, FakeDriver]:
    driver = FakeDriver(respond)
    return Neo4jStore(URL, "neo4j", "pw", driver=driver, **kwargs), driver


def concept_rows(ids: list[str]) -> list[dict[str, Any]]:
    return [{"id": i, "props": {"name": i, "fp": f"fp-{i}"}} for i in ids]


# --- (a) writes go through execute_write and are retried ---------------------------------------------


def test_a_write_runs_in_execute_write_and_is_retried_after_a_deadlock_with_the_same_batch() -> None:
    store, driver = make_store(failing_first(2))
    rows = concept_rows(["c3", "c1", "c2"])
    assert store.query("upsert_concepts", {"rows": rows}) == [{"written": 3}]
    assert [a.mode for a in driver.attempts] == ["write"] * 3
    sent = [a.params["rows"] for a in driver.attempts]
    assert sent[0] == sent[1] == sent[2], "a retried transaction sends the same rows in the same order"
    assert len(sent[0]) == 3, "a retry does not split or shrink the batch"
    assert [r["id"] for r in rows] == ["c3", "c1", "c2"], "the caller's list is not reordered in place"


def test_the_retry_budget_is_handed_to_the_session_and_bounds_the_retries() -> None:
    store, driver = make_store(failing_first(100), max_transaction_retry_time=2)
    with pytest.raises(QueryError) as info:
        store.query("upsert_concepts", {"rows": concept_rows(["a"])})
    assert driver.session_configs == [{"database": None, "max_transaction_retry_time": 2}]
    assert len(driver.attempts) == 4  # first try, then retries until more than 2 s of backoff passed
    message = str(info.value)
    assert "'upsert_concepts'" in message and "transient" in message and "2 s" in message
    assert DEADLOCK in message and URL in message
    assert type(info.value.__cause__) is ne.TransientError


def test_without_a_budget_the_driver_default_applies() -> None:
    store, driver = make_store(failing_first(0))
    store.query("upsert_concepts", {"rows": concept_rows(["a"])})
    assert driver.session_configs == [{"database": None}]


def test_a_negative_retry_budget_is_refused() -> None:
    with pytest.raises(ConfigError, match="max_transaction_retry_time"):
        make_store(failing_first(0), max_transaction_retry_time=-1)


# --- (b) non-transient errors are not retried and name the query -------------------------------------


@pytest.mark.parametrize(("code", "message"), [
    (CONSTRAINT, "Node(12) already exists with label `Concept` and property `id` = 'c1'"),
    ("Neo.ClientError.Statement.SyntaxError", "Invalid input 'MERG'"),
    ("Neo.TransientError.Transaction.LockClientStopped", "the transaction was terminated"),
], ids=["constraint", "syntax", "terminated"])
def test_a_non_transient_error_is_raised_at_once_naming_the_query(code: str, message: str) -> None:
    store, driver = make_store(failing_first(1, code, message))
    with pytest.raises(QueryError) as info:
        store.query("upsert_concepts", {"rows": concept_rows(["c1"])})
    assert len(driver.attempts) == 1, "not retried"
    text = str(info.value)
    cause = info.value.__cause__
    assert isinstance(cause, ne.Neo4jError) and cause.code is not None
    # the driver reclassifies a stopped lock client as a ClientError: the code shown is the driver's
    assert cause.code.rsplit(".", 1)[1] == code.rsplit(".", 1)[1]
    assert "rejected query 'upsert_concepts'" in text and cause.code in text and message in text


def test_a_lost_server_after_retries_names_the_query_too() -> None:
    store, driver = make_store(lambda text, params: ne.ServiceUnavailable("no route to db.example"),
                               max_transaction_retry_time=1)
    with pytest.raises(GraphUnavailable, match=r"unreachable \(running query 'link_mentions'\)"):
        store.query("link_mentions", {"rows": [{"concept_id": "c", "chunk_id": "k"}]})
    assert len(driver.attempts) == 3  # ServiceUnavailable is retryable too


def test_raw_text_errors_keep_their_generic_wording() -> None:
    store, _ = make_store(failing_first(1, CONSTRAINT))
    with pytest.raises(QueryError, match="rejected the query"):
        store.run("CREATE (:X)", read_only=False)


# --- (c) rows are sent sorted by their lock key -------------------------------------------------------


def test_two_writers_with_the_same_rows_in_different_orders_send_one_order() -> None:
    rows = concept_rows([f"c{i:03d}" for i in range(200)])
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)
    first, a = make_store(failing_first(0))
    second, b = make_store(failing_first(0))
    first.query("upsert_concepts", {"rows": rows[::-1]})
    second.query("upsert_concepts", {"rows": shuffled})
    sent_a, sent_b = a.attempts[0].params["rows"], b.attempts[0].params["rows"]
    assert sent_a == sent_b == sorted(rows, key=lambda r: r["id"])


def test_edge_rows_lead_with_the_shared_concept_end() -> None:
    # link_chain_steps names the chain before the concept, but concepts are what writers share
    rows = [{"chain_id": ch, "pos": p, "concept_id": c, "relation_id": None}
            for ch, p, c in [("ch2", 0, "c1"), ("ch1", 0, "c5"), ("ch1", 1, "c1"), ("ch3", 0, "c5")]]
    store, driver = make_store(failing_first(0))
    store.query("link_chain_steps", {"rows": rows})
    sent = [(r["concept_id"], r["chain_id"]) for r in driver.attempts[0].params["rows"]]
    assert sent == [("c1", "ch1"), ("c1", "ch2"), ("c5", "ch1"), ("c5", "ch3")]


def test_lists_of_plain_ids_are_sorted_and_reads_are_left_alone() -> None:
    store, driver = make_store(lambda text, params: [])
    store.query("mark_stale_from_chunks", {"chunk_ids": ["k3", "k1", "k2"]})
    store.query("nodes_by_id", {"ids": ["k3", "k1", "k2"]})  # a read takes no locks: sent as given
    store.run("UNWIND $rows AS row MERGE (:X {id: row.id})", {"rows": [{"id": "b"}, {"id": "a"}]},
              read_only=False)  # raw text is the caller's to order
    assert [a.params for a in driver.attempts] == [
        {"chunk_ids": ["k1", "k2", "k3"]}, {"ids": ["k3", "k1", "k2"]}, {"rows": [{"id": "b"}, {"id": "a"}]}]


def test_lock_keys_come_from_the_node_patterns_of_the_statement() -> None:
    assert lock_keys(text_of("upsert_concepts")) == (LockKey("rows", ("id",)),)
    assert lock_keys(text_of("link_mentions")) == (LockKey("rows", ("concept_id", "chunk_id")),)
    assert lock_keys(text_of("upsert_relations")) == (LockKey("rows", ("subject_id", "object_id")),)
    assert lock_keys(text_of("upsert_chunks")) == (LockKey("rows", ("document_id", "id")),)
    assert lock_keys(text_of("mark_stale_from_chunks")) == (LockKey("chunk_ids", (), plain=True),)
    assert lock_keys("MATCH (n) RETURN n") == ()


def test_rows_whose_nodes_the_text_does_not_key_by_id_are_ordered_by_their_id_fields() -> None:
    # no `{id: row.x}` pattern to read: the rows' own id / *_id fields still give one order
    text = "UNWIND $rows AS row MATCH (c:Concept) WHERE c.id = row.concept_id SET c.seen = row.at"
    assert lock_keys(text) == (LockKey("rows", ()),)
    rows = [{"concept_id": "b", "at": 1}, {"concept_id": "a", "at": 2}]
    assert lock_ordered(text, {"rows": rows})["rows"] == rows[::-1]


def test_order_is_total_stable_and_tolerates_missing_and_mixed_values() -> None:
    key = LockKey("rows", ("subject_id", "object_id"))
    rows = [{"subject_id": "s", "object_id": None, "id": "r2"}, {"subject_id": "s", "object_id": 3, "id": "r1"},
            {"object_id": "o", "id": "r0"}, {"subject_id": "s", "object_id": "o", "id": "r3"}]
    # missing/None first, then numbers, then strings; the row's other id fields break ties
    assert [r["id"] for r in order_rows(rows, key)] == ["r0", "r2", "r1", "r3"]
    dupes = [{"id": "a", "props": {"v": 1}}, {"id": "a", "props": {"v": 2}}]
    assert order_rows(dupes, LockKey("rows", ("id",))) == dupes, "equal keys keep the caller's order"
    assert order_rows([{"a": 1}, "x"], key) == [{"a": 1}, "x"], "a list that is not rows is left alone"


def test_lock_ordered_copies_and_only_touches_unwound_lists() -> None:
    text = "MATCH (r:Run {id: $run_id}) UNWIND $rows AS row MATCH (i:Item {id: row.item_id}) RETURN 1"
    params = {"run_id": "r", "rows": [{"item_id": "b"}, {"item_id": "a"}], "tags": ["z", "y"]}
    out = lock_ordered(text, params)
    assert out == {"run_id": "r", "rows": [{"item_id": "a"}, {"item_id": "b"}], "tags": ["z", "y"]}
    assert params["rows"][0] == {"item_id": "b"}


# --- (d) reads go through execute_read ----------------------------------------------------------------


def test_a_read_runs_in_execute_read_and_is_retried_there_too() -> None:
    store, driver = make_store(failing_first(1))
    store.query("nodes_by_id", {"ids": ["a"]})
    assert [a.mode for a in driver.attempts] == ["read", "read"]


# --- the driver's own retry loop, over a loopback Bolt server -----------------------------------------


def _header(n: int, tiny: int, base: int) -> bytes:
    if n < 16:
        return bytes([tiny + n])
    if n < 0x100:
        return bytes([base, n])
    if n < 0x10000:
        return bytes([base + 1]) + struct.pack(">H", n)
    return bytes([base + 2]) + struct.pack(">I", n)


def pack(value: Any) -> bytes:
    """PackStream v1 for what the stub sends: null, bool, int, float, str, list, map."""
    if value is None:
        return b"\xc0"
    if isinstance(value, bool):
        return b"\xc3" if value else b"\xc2"
    if isinstance(value, int):
        if -16 <= value < 128:
            return struct.pack(">b", value)
        for marker, fmt, bits in ((0xC8, ">b", 8), (0xC9, ">h", 16), (0xCA, ">i", 32), (0xCB, ">q", 64)):
            if -(1 << (bits - 1)) <= value < 1 << (bits - 1):
                return bytes([marker]) + struct.pack(fmt, value)
    if isinstance(value, float):
        return b"\xc1" + struct.pack(">d", value)
    if isinstance(value, str):
        data = value.encode()
        return _header(len(data), 0x80, 0xD0) + data
    if isinstance(value, list):
        return _header(len(value), 0x90, 0xD4) + b"".join(pack(v) for v in value)
    if isinstance(value, dict):
        return _header(len(value), 0xA0, 0xD8) + b"".join(pack(k) + pack(v) for k, v in value.items())
    raise TypeError(f"cannot pack {value!r}")


class Unpacker:
    """PackStream v1 decoding of what the driver sends; a structure becomes ``(tag, fields)``."""

    _INTS: ClassVar[dict[int, tuple[str, int]]] = {0xC8: (">b", 1), 0xC9: (">h", 2), 0xCA: (">i", 4),
                                                    0xCB: (">q", 8)}
    _SIZES: ClassVar[tuple[tuple[str, int], ...]] = ((">B", 1), (">H", 2), (">I", 4))

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def size(self, marker: int, base: int) -> int:
        fmt, n = self._SIZES[marker - base]
        return int(struct.unpack(fmt, self.take(n))[0])

    def value(self) -> Any:
        m = self.take(1)[0]
        if m < 0x80 or m >= 0xF0:
            return m if m < 0x80 else m - 0x100
        high, low = m & 0xF0, m & 0x0F
        if high == 0x80:
            return self.take(low).decode()
        if high == 0x90:
            return [self.value() for _ in range(low)]
        if high == 0xA0:
            return {self.value(): self.value() for _ in range(low)}
        if high == 0xB0:
            return (self.take(1)[0], [self.value() for _ in range(low)])
        if m in (0xC0, 0xC2, 0xC3):
            return None if m == 0xC0 else m == 0xC3
        if m == 0xC1:
            return struct.unpack(">d", self.take(8))[0]
        if m in self._INTS:
            fmt, n = self._INTS[m]
            return struct.unpack(fmt, self.take(n))[0]
        if 0xD0 <= m <= 0xD2:
            return self.take(self.size(m, 0xD0)).decode()
        if 0xD4 <= m <= 0xD6:
            return [self.value() for _ in range(self.size(m, 0xD4))]
        if 0xD8 <= m <= 0xDA:
            return {self.value(): self.value() for _ in range(self.size(m, 0xD8))}
        if 0xCC <= m <= 0xCE:
            return self.take(self.size(m, 0xCC))
        raise ValueError(f"unknown PackStream marker 0x{m:02X}")


# Bolt message tags: requests, then summaries
HELLO, GOODBYE, RESET, RUN, BEGIN, COMMIT, ROLLBACK = 0x01, 0x02, 0x0F, 0x10, 0x11, 0x12, 0x13
DISCARD, PULL = 0x2F, 0x3F
SUCCESS, RECORD, IGNORED, FAILURE = 0x70, 0x71, 0x7E, 0x7F

StubAnswer = list[dict[str, Any]] | tuple[str, str]  # records, or (error code, message)


class BoltStub:
    """A loopback Bolt 5.0 server for managed transactions; ``answer`` decides each RUN.

    ``runs`` records ``(mode, text, params)`` per RUN as it reached the wire (mode ``r`` or ``w``
    from BEGIN). After a FAILURE every message but RESET is IGNORED, as a server does.
    """

    def __init__(self, answer: Callable[[str, dict[str, Any]], StubAnswer]) -> None:
        self.answer = answer
        self.runs: list[tuple[str, str, dict[str, Any]]] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _read(f: BinaryIO, n: int) -> bytes:
        data = f.read(n)
        if len(data) < n:
            raise EOFError
        return data

    def _message(self, f: BinaryIO) -> tuple[int, list[Any]]:
        body = b""
        while True:
            (size,) = struct.unpack(">H", self._read(f, 2))
            if size == 0:
                if body:  # an empty chunk alone is a keep-alive
                    tag, fields = Unpacker(body).value()
                    return tag, fields
                continue
            body += self._read(f, size)

    @staticmethod
    def _send(f: BinaryIO, tag: int, *fields: Any) -> None:
        data = bytes([0xB0 + len(fields), tag]) + b"".join(pack(x) for x in fields)
        f.write(struct.pack(">H", len(data)) + data + b"\x00\x00")

    def _serve(self, conn: socket.socket) -> None:
        f: Any = conn.makefile("rwb")  # a buffered socket file
        failed, mode, pending = False, "w", []
        try:
            self._read(f, 20)  # magic and the four version proposals
            f.write(b"\x00\x00\x00\x05")  # Bolt 5.0
            f.flush()
            while True:
                tag, fields = self._message(f)
                if tag == GOODBYE:
                    return
                if tag == RESET:
                    failed = False
                    self._send(f, SUCCESS, {})
                elif failed:
                    self._send(f, IGNORED)
                elif tag == HELLO:
                    self._send(f, SUCCESS, {"server": "Neo4j/5.26.0", "connection_id": "bolt-stub"})
                elif tag == BEGIN:
                    mode = fields[0].get("mode", "w")
                    self._send(f, SUCCESS, {})
                elif tag == RUN:
                    text, params = fields[0], fields[1]
                    self.runs.append((mode, text, params))
                    answer = self.answer(text, params)
                    if isinstance(answer, tuple):
                        failed = True
                        self._send(f, FAILURE, {"code": answer[0], "message": answer[1]})
                    else:
                        columns = list(answer[0]) if answer else []
                        pending = [[row[c] for c in columns] for row in answer]
                        self._send(f, SUCCESS, {"fields": columns, "t_first": 0, "qid": 0})
                elif tag == PULL:
                    for record in pending:
                        self._send(f, RECORD, record)
                    pending = []
                    self._send(f, SUCCESS, {"has_more": False, "type": mode, "t_last": 0, "db": "neo4j"})
                elif tag == DISCARD:
                    pending = []
                    self._send(f, SUCCESS, {"has_more": False})
                elif tag == COMMIT:
                    self._send(f, SUCCESS, {"bookmark": "stub:1"})
                elif tag == ROLLBACK:
                    self._send(f, SUCCESS, {})
                else:
                    failed = True
                    self._send(f, FAILURE, {"code": "Neo.ClientError.Request.Invalid",
                                            "message": f"the stub does not speak message 0x{tag:02X}"})
                f.flush()
        except (EOFError, OSError):
            return
        finally:
            conn.close()


def stub_failing_first(n: int, code: str = DEADLOCK) -> Callable[[str, dict[str, Any]], StubAnswer]:
    calls = itertools.count()

    def answer(text: str, params: dict[str, Any]) -> StubAnswer:
        if next(calls) < n:
            return (code, f"attempt failed with {code}")
        return [{"written": len(params.get("rows", params.get("ids", [])))}]

    return answer


@pytest.fixture
def stub_store() -> Iterator[Callable[..., tuple[Neo4jStore, BoltStub]]]:
    made: list[tuple[Neo4jStore, BoltStub]] = []

    def make(answer: Callable[[str, dict[str, Any]], StubAnswer], **kwargs: Any) -> tuple[Neo4jStore, BoltStub]:
        stub = BoltStub(answer)
        store = Neo4jStore(f"bolt://127.0.0.1:{stub.port}", **kwargs)  # a real driver, no auth
        made.append((store, stub))
        return store, stub

    yield make
    for store, stub in made:
        store.close()
        stub.close()


def test_the_real_driver_retries_a_deadlocked_write_with_the_same_sorted_batch(
    stub_store: Callable[..., tuple[Neo4jStore, BoltStub]]
) -> None:
    store, stub = stub_store(stub_failing_first(1), max_transaction_retry_time=10)
    rows = concept_rows(["c2", "c3", "c1"])
    assert store.query("upsert_concepts", {"rows": rows}) == [{"written": 3}]
    assert len(stub.runs) == 2, "one deadlock, one retry"
    (mode1, text1, params1), (mode2, text2, params2) = stub.runs
    assert mode1 == mode2 == "w" and text1 == text2 == text_of("upsert_concepts")
    assert params1 == params2 and [r["id"] for r in params1["rows"]] == ["c1", "c2", "c3"]


def test_the_real_driver_does_not_retry_a_constraint_violation(
    stub_store: Callable[..., tuple[Neo4jStore, BoltStub]]
) -> None:
    store, stub = stub_store(stub_failing_first(1, CONSTRAINT))
    with pytest.raises(QueryError, match=r"rejected query 'upsert_concepts': .*ConstraintValidationFailed"):
        store.query("upsert_concepts", {"rows": concept_rows(["c1"])})
    assert len(stub.runs) == 1


def test_the_real_driver_gives_up_when_the_retry_budget_is_spent(
    stub_store: Callable[..., tuple[Neo4jStore, BoltStub]]
) -> None:
    # the driver's first backoff is about a second (jittered by 20 %): past a 0.5 s budget
    store, stub = stub_store(stub_failing_first(100), max_transaction_retry_time=0.5)
    with pytest.raises(QueryError, match=r"kept failing query 'link_mentions' with a transient error"):
        store.query("link_mentions", {"rows": [{"concept_id": "c", "chunk_id": "k"}]})
    assert len(stub.runs) == 2


def test_the_real_driver_sends_reads_in_read_transactions(
    stub_store: Callable[..., tuple[Neo4jStore, BoltStub]]
) -> None:
    store, stub = stub_store(lambda text, params: [{"kind": "concept", "id": "a", "fp": "f"}])
    assert store.query("nodes_by_id", {"ids": ["b", "a"]}) == [{"kind": "concept", "id": "a", "fp": "f"}]
    assert stub.runs == [("r", text_of("nodes_by_id"), {"ids": ["b", "a"]})]
