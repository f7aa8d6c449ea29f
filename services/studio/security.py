"""Who may use the Studio and how writes are protected: the HTTP side of ``proda serve``'s rules.

* **Binding.** Loopback by default. Any other address needs ``PRODA_API_TOKENS``, exactly as
  ``proda serve`` does; with tokens set, every request must present one (a ``Bearer`` header, or the
  session cookie the login form sets after checking a token). Tokens are compared as SHA-256
  digests with :func:`hmac.compare_digest` (:mod:`proda.services.auth`'s rule).
* **DNS rebinding.** On loopback without tokens, a request whose ``Host`` is not a loopback name is
  refused: a hostile page that rebinds its own name to 127.0.0.1 cannot drive the Studio.
* **CSRF.** Every write is a POST (GETs never write). A POST must come from the Studio's own origin
  (``Origin``, else ``Referer``, must match the ``Host`` it was sent to; a browser always sends one of
  them on a form POST or fetch) and must carry the per-session token (double submit: the token is in
  a ``SameSite=Strict``, ``HttpOnly`` cookie and in a hidden form field or ``X-CSRF-Token`` header
  taken from the page). Requests authenticated by a ``Bearer`` header carry no ambient credential, so
  a cross-site page cannot forge one; they skip the token but not the read-only rule.
* **Read-only.** With ``--read-only`` no page shows an action, and every POST but the login is
  refused with 403 whatever it asks.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

CSRF_COOKIE = "proda_studio_csrf"
SESSION_COOKIE = "proda_studio_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without brackets) is the loopback interface."""
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass
class Guard:
    """The Studio's access rules for one process (a fresh session secret each start)."""

    host: str
    tokens: Iterable[str] = ()
    read_only: bool = False
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def __post_init__(self) -> None:
        self._digests = [_digest(t) for t in self.tokens]

    @property
    def auth_required(self) -> bool:
        return bool(self._digests)

    def token_ok(self, presented: str) -> bool:
        """Whether ``presented`` is one of the configured tokens (every one compared: no early exit)."""
        digest = _digest(presented.strip())
        return sum(hmac.compare_digest(digest, d) for d in self._digests) > 0

    def session_value(self) -> str:
        """The session cookie's value after a successful login: a MAC the server alone can make."""
        nonce = secrets.token_hex(16)
        mac = hmac.new(self.secret, f"session:{nonce}".encode(), hashlib.sha256).hexdigest()
        return f"{nonce}.{mac}"

    def session_ok(self, value: str | None) -> bool:
        if not value or "." not in value:
            return False
        nonce, mac = value.split(".", 1)
        want = hmac.new(self.secret, f"session:{nonce}".encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(mac, want)

    def bearer_ok(self, authorization: str | None) -> bool:
        if not authorization or authorization[:7].lower() != "bearer ":
            return False
        return self.token_ok(authorization[7:])

    def host_ok(self, host_header: str | None) -> bool:
        """DNS-rebinding defence: on loopback without tokens only loopback names are served."""
        if self.auth_required or not is_loopback(self.host):
            return True
        if not host_header:
            return False
        name = urlsplit(f"//{host_header}").hostname or ""
        return is_loopback(name)

    @staticmethod
    def same_origin(origin: str | None, referer: str | None, host_header: str | None) -> bool:
        """Whether a POST was sent by a page of this server (``Origin``, else ``Referer``, names the ``Host``)."""
        source = origin if origin and origin != "null" else referer
        if not source or not host_header:
            return False
        return urlsplit(source).netloc.lower() == host_header.lower()

    @staticmethod
    def new_csrf() -> str:
        return secrets.token_urlsafe(32)

    @staticmethod
    def csrf_ok(cookie: str | None, presented: str | None) -> bool:
        return bool(cookie) and bool(presented) and hmac.compare_digest(str(cookie), str(presented))
