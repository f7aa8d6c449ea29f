"""Opaque page tokens for list RPCs: a keyset position, bound to the request it continues.

A token is URL-safe base64 of JSON ``{"s": scope, "f": filter digest, "p": position}``. It is not a
secret (it holds only the last key of the previous page), but it is checked: a token that does not
parse, or was issued for another RPC or other filters, is INVALID_ARGUMENT rather than a wrong page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from proda.errors import InputError

MAX_TOKEN_CHARS = 1024


def _digest(filters: Any) -> str:
    return hashlib.sha256(json.dumps(filters, sort_keys=True, default=str).encode()).hexdigest()[:16]


def encode(scope: str, filters: Any, position: list[Any]) -> str:
    """A token continuing ``scope`` (the RPC) with ``filters`` after ``position``."""
    body = json.dumps({"s": scope, "f": _digest(filters), "p": position}, separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def decode(token: str, scope: str, filters: Any) -> list[Any] | None:
    """The position in ``token`` (None for an empty token); raises :class:`InputError` for a bad token."""
    if not token:
        return None
    if len(token) > MAX_TOKEN_CHARS:
        raise InputError("page_token is not a token this server issued")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError) as e:
        raise InputError("page_token is not a token this server issued") from e
    if not isinstance(data, dict) or data.get("s") != scope or not isinstance(data.get("p"), list):
        raise InputError("page_token is not a token this server issued for this RPC")
    if data.get("f") != _digest(filters):
        raise InputError("page_token was issued for other filters: repeat the first request's fields with it")
    position: list[Any] = data["p"]
    return position
