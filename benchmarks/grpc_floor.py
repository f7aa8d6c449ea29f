"""The cost of gRPC itself per unary call: grpc.aio against gRPC's threaded server, same load, same run.

Both servers answer GetConcept with one constant message (no graph, no interceptors), so what is
measured is the transport's own CPU per call: the floor under every knowledge RPC. The server runs
in this process pinned to core 0, as ``taskset -c 0`` would; the load generator of
``benchmarks/grpc_load.py`` runs in a spawned process on core 1 with 8 clients. The two servers take
turns, ``--repeats`` times each, and the report gives each one's QPS, p99 and server CPU per call
with the ratio. This is the measurement behind ``proda serve`` using the threaded server.

Run::

    .venv/bin/python benchmarks/grpc_floor.py
    .venv/bin/python benchmarks/grpc_floor.py --repeats 5 --requests 10000 --json /tmp/grpc_floor.json
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import psutil
from grpc import aio

from proda.v1 import knowledge_pb2 as kpb
from proda.v1 import knowledge_pb2_grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_json
from grpc_load import _loadgen

ANSWER = kpb.GetConceptResponse(concept=kpb.Concept(id="con_0123456789abcdef0123", name="a concept name",
                                                    discipline="a discipline", out_degree=3, in_degree=2))


class _Threaded(knowledge_pb2_grpc.KnowledgeServiceServicer):
    def GetConcept(self, request: kpb.GetConceptRequest, context: Any) -> kpb.GetConceptResponse:
        return ANSWER


class _Async(knowledge_pb2_grpc.KnowledgeServiceServicer):
    async def GetConcept(self, request: kpb.GetConceptRequest, context: Any) -> kpb.GetConceptResponse:  # type: ignore[override]
        return ANSWER


@contextmanager
def threaded_server(threads: int) -> Iterator[int]:
    server = grpc.server(ThreadPoolExecutor(threads), options=[("grpc.so_reuseport", 0)])
    knowledge_pb2_grpc.add_KnowledgeServiceServicer_to_server(_Threaded(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield port
    finally:
        server.stop(None).wait()


@contextmanager
def aio_server() -> Iterator[int]:
    """A grpc.aio server on its own event loop in a thread (as the earlier ``proda serve`` ran)."""
    loop = asyncio.new_event_loop()
    ready: dict[str, Any] = {}
    started = threading.Event()

    async def main() -> None:
        server = aio.server(options=[("grpc.so_reuseport", 0)])
        knowledge_pb2_grpc.add_KnowledgeServiceServicer_to_server(_Async(), server)
        ready["port"] = server.add_insecure_port("127.0.0.1:0")
        ready["stop"] = asyncio.Event()
        await server.start()
        started.set()
        await ready["stop"].wait()
        await server.stop(None)

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    started.wait(30)
    try:
        yield int(ready["port"])
    finally:
        loop.call_soon_threadsafe(ready["stop"].set)
        thread.join(30)
        loop.close()


def measure(server: Callable[[], Any], args: argparse.Namespace) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    me = psutil.Process()
    with server() as port:
        loadgen = ctx.Process(target=_loadgen, args=(child, f"127.0.0.1:{port}", {"concept": ["con_x"], "chain": []},
                                                    1), name="grpc-loadgen")
        loadgen.start()
        try:
            cpu = sum(me.cpu_times()[:2])
            parent.send(("run", "GetConcept", args.clients, args.requests, args.seconds, args.warmup, 1))
            cell: dict[str, Any] = parent.recv()
            cell["server_cpu_us_per_call"] = (sum(me.cpu_times()[:2]) - cpu) / max(1, cell["ok"] + args.warmup) * 1e6
            parent.send(None)
            loadgen.join(30)
        finally:
            if loadgen.is_alive():
                loadgen.kill()
    return cell


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--requests", type=int, default=8000, help="most measured calls per cell")
    p.add_argument("--seconds", type=float, default=15.0, help="most seconds per cell")
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--repeats", type=int, default=3, help="cells per server, taking turns")
    p.add_argument("--threads", type=int, default=64, help="handler threads of the threaded server")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    os.sched_setaffinity(0, {0})
    servers: dict[str, Callable[[], Any]] = {"grpc.aio": aio_server,
                                             "threaded": lambda: threaded_server(args.threads)}
    cells: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
    for repeat in range(args.repeats):
        for name, server in servers.items():
            cell = measure(server, args)
            cells[name].append(cell)
            print(f"  {name:<9} run {repeat + 1}: {cell['qps']:6.0f} QPS  p50 {cell['p50_ms']:5.2f} ms  "
                  f"p99 {cell['p99_ms']:5.2f} ms  server CPU {cell['server_cpu_us_per_call']:4.0f} us/call", flush=True)
    summary = {name: {k: statistics.median(c[k] for c in runs) for k in ("qps", "p99_ms", "server_cpu_us_per_call")}
               for name, runs in cells.items()}
    print(f"\nmedians of {args.repeats} runs, {args.clients} clients, constant answer, server pinned to core 0:")
    for name, m in summary.items():
        print(f"  {name:<9} {m['qps']:6.0f} QPS  p99 {m['p99_ms']:5.2f} ms  {m['server_cpu_us_per_call']:4.0f} us/call")
    a, t = summary["grpc.aio"], summary["threaded"]
    print(f"threaded / grpc.aio: {t['qps'] / a['qps']:.2f}x QPS, "
          f"{a['server_cpu_us_per_call'] / t['server_cpu_us_per_call']:.2f}x less server CPU per call")
    if args.json is not None:
        write_json(args.json, {"params": {k: str(v) for k, v in vars(args).items()}, "cells": cells,
                               "medians": summary})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
