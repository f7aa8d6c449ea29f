"""``OperationsService``: reading, waiting on, watching, cancelling and resuming operations.

Thin: arguments are checked and converted here, the work is the :class:`Supervisor`'s, awaited on
the server's event loop through :class:`~proda.services.loop_bridge.LoopBridge`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import grpc

from proda.errors import InputError
from proda.services import convert, paging
from proda.services.loop_bridge import LoopBridge, time_remaining
from proda.services.supervisor import Supervisor
from proda.v1 import operations_pb2 as opb
from proda.v1 import operations_pb2_grpc

Context = grpc.ServicerContext
MAX_ID_CHARS = 256
# WaitOperation answers this long before the call's deadline, so the caller gets the operation
# (not DEADLINE_EXCEEDED) when the wait runs out.
WAIT_MARGIN_S = 0.05


def _id(value: str) -> str:
    if not value:
        raise InputError("id: the operation id is required")
    if len(value) > MAX_ID_CHARS:
        raise InputError(f"id: longer than {MAX_ID_CHARS} characters")
    return value


class OperationsServicer(operations_pb2_grpc.OperationsServiceServicer):
    """Durable operations over the supervisor."""

    def __init__(self, supervisor: Supervisor, loop: LoopBridge) -> None:
        self.supervisor = supervisor
        self.loop = loop

    def GetOperation(self, request: opb.GetOperationRequest, context: Context) -> opb.GetOperationResponse:
        record = self.loop.call(self.supervisor.get, _id(request.id), context=context)
        return opb.GetOperationResponse(operation=convert.operation_to_proto(record))

    def ListOperations(self, request: opb.ListOperationsRequest,
                             context: Context) -> opb.ListOperationsResponse:
        if not 0 <= request.page_size <= 200:
            raise InputError("page_size: must be between 1 and 200 (0: 50)")
        if len(request.kind) > MAX_ID_CHARS:
            raise InputError(f"kind: longer than {MAX_ID_CHARS} characters")
        state = None
        if request.state:
            state = convert.state_from_proto(request.state)
            if state is None:
                raise InputError(f"state: {request.state} is not an OperationState")
        filters = [request.kind, request.state]
        after = paging.decode(request.page_token, "ListOperations", filters)
        position = None
        if after is not None:
            if len(after) != 2 or not isinstance(after[0], int | float) or not isinstance(after[1], str):
                raise InputError("page_token is not a token this server issued for this RPC")
            position = (float(after[0]), after[1])
        size = request.page_size or 50
        records = self.loop.call(functools.partial(self.supervisor.find, kind=request.kind or None, state=state,
                                                      limit=size + 1, after=position), context=context)
        page, more = records[:size], len(records) > size
        token = paging.encode("ListOperations", filters, [page[-1].create_time, page[-1].id]) if more else ""
        return opb.ListOperationsResponse(operations=[convert.operation_to_proto(r) for r in page],
                                          next_page_token=token)

    def CancelOperation(self, request: opb.CancelOperationRequest,
                              context: Context) -> opb.CancelOperationResponse:
        record = self.loop.run(self.supervisor.cancel(_id(request.id)), context)
        return opb.CancelOperationResponse(operation=convert.operation_to_proto(record))

    def WaitOperation(self, request: opb.WaitOperationRequest, context: Context) -> opb.WaitOperationResponse:
        timeout: float | None = None
        if request.HasField("timeout"):
            if request.timeout.seconds < 0 or request.timeout.nanos < 0:
                raise InputError("timeout: must not be negative")
            timeout = request.timeout.seconds + request.timeout.nanos / 1e9 or None
        remaining = time_remaining(context)
        if remaining is not None:
            left = max(0.0, remaining - WAIT_MARGIN_S)
            timeout = left if timeout is None else min(timeout, left)
            timeout = timeout or 1e-3  # an expired deadline still gets the current state, not "wait forever"
        record = self.loop.run(self.supervisor.wait(_id(request.id), timeout), context)
        return opb.WaitOperationResponse(operation=convert.operation_to_proto(record))

    def WatchOperation(self, request: opb.WatchOperationRequest,
                             context: Context) -> Iterator[opb.WatchOperationResponse]:
        if request.after_sequence < 0:
            raise InputError("after_sequence: must not be negative")
        for event, record in self.loop.iterate(self.supervisor.watch(_id(request.id), request.after_sequence), context):
            response = opb.WatchOperationResponse(event=convert.event_to_proto(event))
            if record is not None:
                response.operation.CopyFrom(convert.operation_to_proto(record))
            yield response

    def ResumeOperation(self, request: opb.ResumeOperationRequest,
                              context: Context) -> opb.ResumeOperationResponse:
        record = self.loop.run(self.supervisor.resume(_id(request.id)), context)
        return opb.ResumeOperationResponse(operation=convert.operation_to_proto(record))
