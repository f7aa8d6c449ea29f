"""Automatic append-only-file rewrites wait while a bulk pass runs on the embedded server.

The embedded FalkorDB logs every write to its append-only file and compacts that file into a snapshot
whenever it has doubled (``auto-aof-rewrite-percentage``). A bulk pass appends its whole payload (some
400 MB for a million elements) within seconds, so the server forks two or three compactions during the
pass, each serialising every graph it holds, a half-built staging graph included; on a small machine
their CPU is taken from the pass. While a pass runs, automatic rewrites are therefore switched off
(``CONFIG SET auto-aof-rewrite-percentage 0``), and the setting is put back when the last pass ends: the
server then compacts once, the finished graph. Nothing is less durable meanwhile: every write is still
appended and synced as configured; only compaction waits.

The setting is server-wide, so it is only changed on a server ProDa runs itself (the embedded one), and
the state lives on the server, in one hash (:data:`PAUSE_KEY`): the setting to put back and one field per
pass holding the pause, a staging graph whose lease (:mod:`~proda.schema.store.falkordb_staging`) says
whether its pass still runs. Passes at once share the pause; a killed pass's field outlives its lease,
and whoever looks next (the next bulk pass on the server, ``proda graph reset``) puts the setting back.
Every change goes through ``WATCH`` on the hash, so a pass starting while another ends never leaves
rewrites off with no one to put them back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from proda.schema.store.falkordb_staging import lease_key

PAUSE_KEY = "proda~aof-rewrite-pause"
SETTING = "auto-aof-rewrite-percentage"
_SAVED = "setting"  # the hash field holding the value to put back; every other field is a pass
ATTEMPTS = 20


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _fields(conn: Any) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in conn.hgetall(PAUSE_KEY).items()}


def _setting(conn: redis.Redis) -> str:
    return _text(conn.config_get(SETTING).get(SETTING, ""))


def _running(conn: redis.Redis, passes: Any) -> list[str]:
    """The passes (staging names) among ``passes`` whose lease is still held."""
    return [f for f in passes if conn.exists(lease_key(f))]


def pause(conn: redis.Redis, holder: str) -> bool:
    """Switch automatic rewrites off for the pass filling staging graph ``holder`` (its lease must be
    held). Returns whether the pass holds a pause to :func:`resume`: not where the server refuses
    ``CONFIG`` (a managed server) or its operator already had rewrites off."""
    try:
        current = _setting(conn)
        if current:
            conn.config_set(SETTING, current)  # changes nothing: a server that lets one read it but not set it
    except redis.exceptions.ResponseError:
        return False  # CONFIG renamed or denied: leave the server as it is
    for _ in range(ATTEMPTS):
        with conn.pipeline(transaction=True) as p:
            try:
                p.watch(PAUSE_KEY)  # type: ignore[no-untyped-call]
                held = _fields(p)
                if _SAVED not in held and current in ("", "0"):
                    return False  # off by the operator's choice (or unknown): nothing of ours to put back
                p.multi()
                if _SAVED not in held:
                    p.hset(PAUSE_KEY, _SAVED, current)
                    p.config_set(SETTING, "0")
                p.hset(PAUSE_KEY, holder, "1")
                p.execute()
                return True
            except redis.WatchError:
                current = _setting(conn)  # another pass began or ended
    return False


@dataclass(frozen=True)
class Hold:
    """Who holds the server's compactions now (``proda graph status`` shows it)."""

    running: int  # passes holding it whose lease is alive
    ended: int  # passes killed while holding it (lease run out): the next bulk pass or a reset lets go
    restores: str  # the setting put back when the hold ends


def hold(conn: redis.Redis) -> Hold | None:
    """The hold on this server's automatic rewrites, or ``None`` when there is none."""
    held = _fields(conn)
    if not held:
        return None
    passes = [f for f in held if f != _SAVED]
    running = len(_running(conn, passes))
    return Hold(running=running, ended=len(passes) - running, restores=held.get(_SAVED, ""))


def resume(conn: redis.Redis, holder: str | None = None) -> bool:
    """End ``holder``'s pause (``None``: only look for passes that died holding one). The setting is put
    back when no pass that still holds its lease is left. Returns whether it was put back."""
    for _ in range(ATTEMPTS):
        with conn.pipeline(transaction=True) as p:
            try:
                p.watch(PAUSE_KEY)  # type: ignore[no-untyped-call]
                held = _fields(p)
                if not held:
                    return False
                others = _running(conn, [f for f in held if f not in (_SAVED, holder)])
                p.multi()
                if others:
                    if holder is not None:
                        p.hdel(PAUSE_KEY, holder)
                    dead = [f for f in held if f not in (_SAVED, holder, *others)]
                    if dead:
                        p.hdel(PAUSE_KEY, *dead)
                    p.execute()
                    return False
                if _SAVED in held:
                    p.config_set(SETTING, held[_SAVED])
                p.delete(PAUSE_KEY)
                p.execute()
                return _SAVED in held
            except redis.WatchError:
                continue
    return False


__all__ = ["PAUSE_KEY", "SETTING", "Hold", "hold", "pause", "resume"]
