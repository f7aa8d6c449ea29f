"""Bearer-token authentication for every RPC except health checks.

Tokens come from ``PRODA_API_TOKENS`` (comma-separated; environment only). A call must carry
``authorization: Bearer <token>`` metadata naming one of them, else it is refused UNAUTHENTICATED
before any servicer runs. Health checks are exempt so that load balancers and orchestrators can probe
without a secret. Tokens are compared as SHA-256 digests with :func:`hmac.compare_digest`, so the
comparison takes the same time whatever the presented token shares with a real one.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import grpc

HEALTH_PREFIX = "/grpc.health.v1.Health/"
_SCHEME = "bearer "


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


class BearerTokenInterceptor(grpc.ServerInterceptor):
    """Refuses calls without a valid bearer token (health checks excepted)."""

    def __init__(self, tokens: Iterable[str], exempt_prefixes: tuple[str, ...] = (HEALTH_PREFIX,)) -> None:
        self._digests = [_digest(t) for t in tokens]
        if not self._digests:
            raise ValueError("BearerTokenInterceptor needs at least one token")
        self._exempt = exempt_prefixes
        self._refusals: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}  # per method: one stable handler

    def allows(self, metadata: Any) -> bool:
        """Whether ``metadata`` (key/value pairs) carries one of the configured tokens."""
        for item in metadata or ():
            key, value = item[0], item[1]
            if key != "authorization":
                continue
            text = value if isinstance(value, str) else value.decode("utf-8", "replace")
            if text[: len(_SCHEME)].lower() != _SCHEME:
                return False
            presented = _digest(text[len(_SCHEME):].strip())
            # no early exit: every configured token is compared, so timing says nothing of which matched
            return sum(hmac.compare_digest(presented, d) for d in self._digests) > 0
        return False

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(self._exempt):
            return handler
        if self.allows(handler_call_details.invocation_metadata):
            return handler
        method = handler_call_details.method
        refusal = self._refusals.get(method)
        if refusal is None:
            refusal = self._refusals[method] = _refusal(handler)
        return refusal


def _refuse(_request: Any, context: grpc.ServicerContext) -> None:
    context.abort(grpc.StatusCode.UNAUTHENTICATED,
                  "missing or unknown bearer token: send 'authorization: Bearer <token>' metadata")


def _refuse_stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
    _refuse(request, context)
    yield  # pragma: no cover  # never reached: abort raises; the yield makes this a generator


def _refusal(handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
    """A handler of the same shape as ``handler`` that refuses the call (the shape must match the method's)."""
    kwargs = {"request_deserializer": None, "response_serializer": handler.response_serializer}
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(_refuse, **kwargs)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(_refuse_stream, **kwargs)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(_refuse, **kwargs)
    return grpc.stream_stream_rpc_method_handler(_refuse_stream, **kwargs)
