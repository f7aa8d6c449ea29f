"""Handler threads awaiting the event loop's coroutines, bound to their call (services/loop_bridge.py).

The bridge runs on a real event loop in its own thread; the call is a stand-in with the two methods
of gRPC's servicer context that the bridge uses, so a test can end the call at a chosen moment.
A server-level test of the same (a client abandoning a wait and a watch) is in test_grpc_operations.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from proda.services.loop_bridge import NO_DEADLINE_S, CallEnded, LoopBridge, time_remaining


class FakeCall:
    """The part of a servicer context the bridge uses; :meth:`end` plays the client going away."""

    def __init__(self, remaining: float = 5.0) -> None:
        self.callbacks: list[Callable[[], None]] = []
        self.active = True
        self.remaining = remaining

    def add_callback(self, callback: Callable[[], None]) -> bool:
        if not self.active:
            return False
        self.callbacks.append(callback)
        return True

    def is_active(self) -> bool:
        return self.active

    def time_remaining(self) -> float:
        return self.remaining

    def end(self) -> None:
        self.active = False
        for callback in self.callbacks:
            callback()


@pytest.fixture
def bridge() -> Iterator[LoopBridge]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield LoopBridge(loop)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def test_results_and_errors_come_back_to_the_handler_thread(bridge: LoopBridge) -> None:
    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    async def fail() -> None:
        raise ValueError("from the loop")

    call = FakeCall()
    assert bridge.run(double(21), call) == 42
    with pytest.raises(ValueError, match="from the loop"):
        bridge.run(fail(), call)
    owner: list[threading.Thread] = []
    bridge.call(lambda: owner.append(threading.current_thread()), context=call)
    assert owner[0] is not threading.current_thread()  # the loop's thread ran it


def test_a_call_that_ends_cancels_its_coroutine(bridge: LoopBridge) -> None:
    seen: list[str] = []

    async def wait_long() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    call = FakeCall()
    threading.Timer(0.2, call.end).start()
    started = time.monotonic()
    with pytest.raises(CallEnded):
        bridge.run(wait_long(), call)
    assert time.monotonic() - started < 5
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen == ["cancelled"]


def test_an_ended_call_runs_nothing(bridge: LoopBridge) -> None:
    ran: list[bool] = []

    async def work() -> None:
        ran.append(True)

    call = FakeCall()
    call.end()
    with pytest.raises(CallEnded):
        bridge.run(work(), call)
    time.sleep(0.05)
    assert ran == []


def test_iterate_yields_in_order_and_closes_the_stream_when_the_consumer_stops(bridge: LoopBridge) -> None:
    closed = threading.Event()

    async def events() -> AsyncIterator[int]:
        try:
            for i in range(100):
                yield i
        finally:
            closed.set()

    assert list(bridge.iterate(events(), FakeCall())) == list(range(100))
    assert closed.wait(5)

    closed.clear()
    stream = bridge.iterate(events(), FakeCall())
    assert [next(stream), next(stream)] == [0, 1]
    stream.close()  # what gRPC does to a response generator whose client went away
    assert closed.wait(5)


def test_iterate_stops_when_the_call_ends_during_a_wait(bridge: LoopBridge) -> None:
    async def slow() -> AsyncIterator[int]:
        yield 1
        await asyncio.sleep(30)
        yield 2

    call = FakeCall()
    stream = bridge.iterate(slow(), call)
    assert next(stream) == 1
    threading.Timer(0.2, call.end).start()
    with pytest.raises(CallEnded):
        next(stream)


@pytest.mark.parametrize(("reported", "expected"), [
    (3.5, 3.5), (0.0, 0.0), (float("inf"), None), (NO_DEADLINE_S * 10, None), (-1.0, 0.0)])
def test_time_remaining_reads_a_missing_deadline_as_none(reported: float, expected: Any) -> None:
    assert time_remaining(FakeCall(remaining=reported)) == expected
