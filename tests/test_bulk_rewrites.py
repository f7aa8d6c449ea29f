"""A bulk pass on the embedded server holds its append-only compactions until it ends, and no pass, ended
or killed, leaves them held."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from proda.pipelines.load import load_file
from proda.schema.store import EmbeddedFalkorDB, ServerInfo
from proda.schema.store import falkordb_rewrites as rewrites
from proda.schema.store import falkordb_staging as staging
from proda.schema.store.falkordb_store import FalkorDBStore
from tests.console import proda, terminate_servers


def _conn(info: ServerInfo, **kw: Any) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=info.port, password=info.password, **kw)


def _setting(conn: redis.Redis) -> str:
    value = conn.config_get(rewrites.SETTING)[rewrites.SETTING]
    return value.decode() if isinstance(value, bytes) else str(value)


@pytest.fixture
def conn(falkordb_server: ServerInfo) -> Iterator[redis.Redis]:
    """A client of the session's server whose rewrite setting is put back after the test, whatever it did."""
    c = _conn(falkordb_server)
    before = _setting(c)
    c.delete(rewrites.PAUSE_KEY)
    try:
        yield c
    finally:
        c.delete(rewrites.PAUSE_KEY)
        c.config_set(rewrites.SETTING, before)
        c.close()


def _holder(conn: redis.Redis) -> str:
    """A pass's staging name with its lease held, as bulk_create makes them."""
    name = staging.staging_name(f"rw_{secrets.token_hex(4)}")
    staging.Lease(conn, name)
    return name


def test_passes_share_the_hold_and_the_last_to_end_puts_the_setting_back(conn: redis.Redis) -> None:
    conn.config_set(rewrites.SETTING, "150")  # an operator's own value is what comes back
    a, b = _holder(conn), _holder(conn)
    assert rewrites.pause(conn, a) and _setting(conn) == "0"
    assert rewrites.pause(conn, b) and _setting(conn) == "0"
    assert not rewrites.resume(conn, a)
    assert _setting(conn) == "0"  # b still runs
    assert rewrites.resume(conn, b)
    assert _setting(conn) == "150" and not conn.exists(rewrites.PAUSE_KEY)


def test_a_pass_killed_while_holding_is_let_go_by_whoever_looks_next(conn: redis.Redis, falkordb_server: ServerInfo,
                                                                     ) -> None:
    conn.config_set(rewrites.SETTING, "100")
    killed, alive = _holder(conn), _holder(conn)
    rewrites.pause(conn, killed)
    rewrites.pause(conn, alive)
    conn.delete(staging.lease_key(killed))  # its lease ran out: the process is gone
    assert not rewrites.resume(conn)  # the live pass keeps the hold; the dead one's field goes
    assert _setting(conn) == "0"
    assert {k.decode() for k in conn.hkeys(rewrites.PAUSE_KEY)} == {"setting", alive}
    conn.delete(staging.lease_key(alive))
    # `proda graph reset` (clear) on the embedded server's store looks too
    store = FalkorDBStore("127.0.0.1", falkordb_server.port, f"rw_{secrets.token_hex(4)}",
                          password=falkordb_server.password, owns_server=True)
    try:
        store.clear()
        assert _setting(conn) == "100" and not conn.exists(rewrites.PAUSE_KEY)
    finally:
        store._graph.delete()
        store.close()


def test_rewrites_the_operator_turned_off_stay_off(conn: redis.Redis) -> None:
    conn.config_set(rewrites.SETTING, "0")
    holder = _holder(conn)
    assert not rewrites.pause(conn, holder)
    assert not conn.exists(rewrites.PAUSE_KEY)
    assert not rewrites.resume(conn, holder) and _setting(conn) == "0"


@pytest.mark.parametrize("allowed", [["-config"], ["-config", "+config|get"]], ids=["no-config", "read-only"])
def test_a_server_that_refuses_config_is_left_as_it_is(allowed: list[str], conn: redis.Redis,
                                                       falkordb_server: ServerInfo) -> None:
    user, password = f"noconfig_{secrets.token_hex(3)}", secrets.token_hex(8)
    conn.execute_command("ACL", "SETUSER", user, "on", f">{password}", "~*", "&*", "+@all", *allowed)
    limited = redis.Redis(host="127.0.0.1", port=falkordb_server.port, username=user, password=password)
    try:
        before = _setting(conn)
        assert not rewrites.pause(limited, _holder(limited))
        assert _setting(conn) == before and not conn.exists(rewrites.PAUSE_KEY)
    finally:
        limited.close()
        conn.execute_command("ACL", "DELUSER", user)


def test_a_pass_starting_while_the_last_one_ends_keeps_the_hold(conn: redis.Redis,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    conn.config_set(rewrites.SETTING, "100")
    ending, starting = _holder(conn), _holder(conn)
    rewrites.pause(conn, ending)
    real, calls = rewrites._fields, []

    def fields_then_another_pass(c: Any) -> dict[str, str]:
        seen = real(c)
        calls.append(1)
        if len(calls) == 1:  # after `ending` looked and before it changes anything: another pass begins
            assert rewrites.pause(conn, starting)
        return seen

    monkeypatch.setattr(rewrites, "_fields", fields_then_another_pass)
    assert not rewrites.resume(conn, ending)  # looked again after the clash and saw the new pass
    monkeypatch.undo()
    assert _setting(conn) == "0"
    assert rewrites.resume(conn, starting) and _setting(conn) == "100"


# -- the pass itself, on an embedded server of its own ------------------------------------------------


@pytest.fixture
def compacting_server(tmp_path: Path) -> Iterator[ServerInfo]:
    """An embedded server that compacts its append-only file as soon as it passes 1 MB and has doubled."""
    server = EmbeddedFalkorDB(tmp_path / "srv")
    info, _ = server.ensure_running()
    c = _conn(info)
    c.config_set("auto-aof-rewrite-min-size", "1mb")
    c.close()
    yield info
    server.stop()


def _knowledge_file(path: Path, concepts: int = 6000) -> Path:
    """Some megabytes of concepts and relations (enough for the server above to compact during a pass)."""
    with path.open("w") as fh:
        for i in range(concepts):
            fh.write(json.dumps({"kind": "concept", "id": f"con_{i}", "name": f"concept {i}", "discipline": "d",
                                 "description": f"{i} " + "words of a description " * 20}) + "\n")
        for i in range(concepts - 1):
            fh.write(json.dumps({"kind": "relation", "id": f"rel_{i}", "type": "causes", "subject_id": f"con_{i}",
                                 "object_id": f"con_{i + 1}", "discipline": "d", "evidence": "an evidence span " * 8})
                     + "\n")
    return path


def _compactions(conn: redis.Redis) -> tuple[int, bool]:
    state = conn.info("persistence")
    return int(state["aof_rewrites"]), bool(state["aof_rewrite_in_progress"] or state["aof_rewrite_scheduled"])


def _until_compacted(conn: redis.Redis) -> None:
    deadline = time.monotonic() + 60
    while _compactions(conn)[1] and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.mark.parametrize("owns_server", [True, False])
def test_a_bulk_pass_on_the_embedded_server_compacts_once_when_it_ends(
        owns_server: bool, compacting_server: ServerInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = _conn(compacting_server)
    store = FalkorDBStore("127.0.0.1", compacting_server.port, "rw_pass", password=compacting_server.password,
                          owns_server=owns_server)
    path = _knowledge_file(tmp_path / "k.jsonl")
    store.ensure_schema()
    _until_compacted(conn)
    before = _compactions(conn)[0]
    at_the_end: dict[str, Any] = {}
    place = staging.place

    def look_then_place(*args: Any, **kw: Any) -> None:
        time.sleep(0.5)  # the server looks every 100 ms: had it been free to, it would have begun by now
        at_the_end.update(setting=_setting(conn), compactions=_compactions(conn))
        place(*args, **kw)

    monkeypatch.setattr(staging, "place", look_then_place)
    try:
        report = load_file(store, path, home=tmp_path / "home")
        assert report.method == "bulk"
        if owns_server:
            assert at_the_end["setting"] == "0"
            assert at_the_end["compactions"] == (before, False)  # nothing compacted while the pass ran
            deadline = time.monotonic() + 30
            while _compactions(conn)[0] == before and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _compactions(conn)[0] > before  # the finished graph, once the setting came back
        else:
            assert at_the_end["setting"] == "100"
            count, running = at_the_end["compactions"]
            assert count > before or running  # as before: the server compacted during the pass
        assert _setting(conn) == "100" and not conn.exists(rewrites.PAUSE_KEY)
        assert store.run("MATCH (c:Concept) RETURN count(c) AS n")[0]["n"] == 6000
    finally:
        store.close()
        conn.close()


def test_a_bulk_pass_that_fails_lets_the_rewrites_go(compacting_server: ServerInfo, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    conn = _conn(compacting_server)
    store = FalkorDBStore("127.0.0.1", compacting_server.port, "rw_fail", password=compacting_server.password,
                          owns_server=True)
    store.ensure_schema()
    path = _knowledge_file(tmp_path / "k.jsonl", concepts=200)

    def broken(*args: Any, **kw: Any) -> None:
        assert _setting(conn) == "0"
        raise KeyboardInterrupt

    monkeypatch.setattr(staging, "place", broken)
    try:
        with pytest.raises(KeyboardInterrupt):
            load_file(store, path, home=tmp_path / "home")
        assert _setting(conn) == "100" and not conn.exists(rewrites.PAUSE_KEY)
        assert store.is_empty()
    finally:
        store.close()
        conn.close()


def test_the_hold_says_who_holds_it(conn: redis.Redis) -> None:
    conn.config_set(rewrites.SETTING, "100")
    assert rewrites.hold(conn) is None
    running, killed = _holder(conn), _holder(conn)
    rewrites.pause(conn, running)
    rewrites.pause(conn, killed)
    conn.delete(staging.lease_key(killed))
    assert rewrites.hold(conn) == rewrites.Hold(running=1, ended=1, restores="100")
    rewrites.resume(conn, running)
    assert rewrites.hold(conn) is None and _setting(conn) == "100"


def test_graph_status_shows_the_hold_on_the_embedded_server(tmp_path: Path) -> None:
    home = tmp_path / "home"
    try:
        assert proda("graph", "up", home=home).returncode == 0
        info = EmbeddedFalkorDB(home).status()
        assert info is not None
        c = _conn(info)
        assert json.loads(proda("graph", "status", "--json", home=home).stdout)["compaction_hold"] is None
        holder = _holder(c)
        rewrites.pause(c, holder)
        shown = proda("graph", "status", home=home)
        assert "append-only compaction held by 1 running bulk pass" in " ".join(shown.stdout.split()), shown.stdout
        c.delete(staging.lease_key(holder))  # the pass was killed
        status = json.loads(proda("graph", "status", "--json", home=home).stdout)
        assert status["compaction_hold"] == {"running": 0, "ended": 1, "restores": "100"}
        assert proda("graph", "reset", "--yes", home=home).returncode == 0  # lets go
        assert json.loads(proda("graph", "status", "--json", home=home).stdout)["compaction_hold"] is None
        assert _setting(c) == "100"
        c.close()
    finally:
        terminate_servers(home)


def test_an_adding_pass_holds_the_rewrites_while_it_runs(conn: redis.Redis, falkordb_server: ServerInfo,
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bulk pass that adds a discipline to a filled graph on ProDa's own server holds the compactions as a
    first load does, renews its lease while it runs, and puts the setting back when it ends."""
    from proda.schema.store.bulk import BulkGraph

    conn.config_set(rewrites.SETTING, "100")
    lines = [ln for ln in (Path(__file__).resolve().parents[1] / "data" / "sample" / "knowledge.jsonl")
             .read_text().splitlines() if ln.strip()]
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("\n".join(ln for ln in lines if json.loads(ln)["discipline"] == "economics") + "\n")
    b.write_text("\n".join(ln for ln in lines if json.loads(ln)["discipline"] != "economics") + "\n")
    store = FalkorDBStore("127.0.0.1", falkordb_server.port, f"rw_{secrets.token_hex(4)}",
                          password=falkordb_server.password, owns_server=True)
    seen: list[str] = []
    original, renew = BulkGraph.place_nodes, staging.Lease.renew
    renewed: list[str] = []

    def place_and_look(self: BulkGraph, positions: Any) -> None:
        seen.append(_setting(conn))
        original(self, positions)

    def renewing(self: staging.Lease) -> None:
        renewed.append(self.key)
        renew(self)

    try:
        assert load_file(store, a, home=tmp_path / "a").method == "bulk"
        monkeypatch.setattr(BulkGraph, "place_nodes", place_and_look)
        monkeypatch.setattr(staging.Lease, "renew", renewing)
        assert load_file(store, b, home=tmp_path / "b").method == "bulk"
        assert seen == ["0"] and _setting(conn) == "100" and not conn.exists(rewrites.PAUSE_KEY)
        # the lease that tells a live pass from a killed one is renewed with every call, as a first load's
        assert len(renewed) >= 2 and len(set(renewed)) == 1
    finally:
        store._graph.delete()
        store.close()
