"""Awaiting the supervisor's coroutines from gRPC handler threads, for as long as the call lives.

The server answers calls on a thread pool (the synchronous gRPC server: measured at 1.6x less
CPU per unary call than ``grpc.aio`` here, see the README's "gRPC under load"), while the
:class:`~proda.services.supervisor.Supervisor` lives on the server's asyncio event loop. A handler
hands its coroutine to the loop and blocks on the result; when the call ends early (the client
cancels or its deadline passes) the coroutine is cancelled, so no wait outlives its call.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

# A call without a deadline reports an effectively infinite remaining time; beyond this it is "none".
NO_DEADLINE_S = 1e8


class CallContext(Protocol):
    """What the bridge needs of a synchronous ``grpc.ServicerContext``."""

    def add_callback(self, callback: Any) -> bool: ...

    def is_active(self) -> bool: ...

    def time_remaining(self) -> float: ...


class CallEnded(Exception):  # a state, not a failure: the caller has gone
    """The call ended (cancelled by its client, or past its deadline) while its coroutine ran."""


def time_remaining(context: CallContext) -> float | None:
    """Seconds the caller still waits, None when it set no deadline (the sync server reports a huge number)."""
    left = context.time_remaining()
    return None if not math.isfinite(left) or left > NO_DEADLINE_S else max(0.0, left)


class LoopBridge:
    """Runs coroutines on ``loop`` for handler threads, bound to their call."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def run(self, coroutine: Coroutine[Any, Any, T], context: CallContext) -> T:
        """The result of ``coroutine`` run on the loop; raises what it raises, or :class:`CallEnded` when
        the call ended first (the coroutine is then cancelled)."""
        return _CallScope(self.loop, context).run(coroutine)

    def call(self, fn: Callable[..., T], *args: Any, context: CallContext) -> T:
        """``fn(*args)`` run on the loop's thread (the supervisor's state belongs to the loop)."""
        return self.run(_apply(fn, *args), context)

    def iterate(self, iterator: AsyncIterator[T], context: CallContext) -> Iterator[T]:
        """The items of an async iterator, each awaited on the loop; closes it when the call ends."""
        call = _CallScope(self.loop, context)
        try:
            while (item := call.run(_next(iterator))) is not _END:
                yield item
        finally:
            close = getattr(iterator, "aclose", None)
            if close is not None and not self.loop.is_closed():
                asyncio.run_coroutine_threadsafe(close(), self.loop)


class _CallScope:
    """One call's coroutines: the one running is cancelled when the call ends (one callback per call)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, context: CallContext) -> None:
        self.loop = loop
        self.context = context
        self.current: concurrent.futures.Future[Any] | None = None
        self.ended = threading.Event()
        if not context.add_callback(self._end):  # the call has already ended
            self.ended.set()

    def _end(self) -> None:
        self.ended.set()
        if self.current is not None:
            self.current.cancel()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self.ended.is_set():
            coroutine.close()
            raise CallEnded()
        self.current = future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        if self.ended.is_set():  # ended between the check and the hand-over
            future.cancel()
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            if self.ended.is_set() or not self.context.is_active():
                raise CallEnded() from None
            raise
        finally:
            self.current = None


_END: Any = object()


async def _apply(fn: Callable[..., T], *args: Any) -> T:
    return fn(*args)


async def _next(iterator: AsyncIterator[T]) -> T:
    try:
        return await iterator.__anext__()
    except StopAsyncIteration:
        return _END  # type: ignore[no-any-return]
