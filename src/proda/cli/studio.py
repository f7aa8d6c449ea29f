"""``proda studio``: the web IDE on the configured graph and PRODA_HOME."""

from __future__ import annotations

import typer

from proda.cli.context import settings_from, store_for
from proda.errors import ConfigError, DependencyMissing

_LEVELS = ("debug", "info", "warning", "error")


def studio(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on. Beyond loopback, PRODA_API_TOKENS "
                             "must be set (the tokens proda serve takes); the browser logs in with one."),
    port: int = typer.Option(8080, "--port", min=0, max=65535, help="HTTP port (0 picks a free one and prints it)."),
    read_only: bool = typer.Option(False, "--read-only", help="Hide every action that writes and refuse writes "
                                   "even if asked directly; operations are read from their file, never written."),
    grpc_port: int = typer.Option(0, "--grpc-port", min=0, max=65535, help="Loopback gRPC port of the operations "
                                  "this Studio hosts when no proda serve owns PRODA_HOME (0: a free one)."),
    max_jobs: int | None = typer.Option(None, "--max-jobs", min=1, help="Jobs run at once (default "
                                        "PRODA_GRPC_MAX_JOBS or 2)."),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
) -> None:
    """Serve ProDa Studio: overview, corpus and extraction, graph explorer, benchmark, training and
    evaluation, Debugger and the Cypher console, until Ctrl-C.

    Jobs started in the Studio are durable operations of PRODA_HOME: when no `proda serve` owns them the
    Studio hosts them (and a gRPC server on loopback, printed at start); otherwise it starts them on that
    server. Reads go straight to the graph through the same catalog queries as the CLI.
    """
    import asyncio
    import logging
    import socket

    from proda.services.studio.security import is_loopback

    if log_level.lower() not in _LEVELS:
        raise ConfigError(f"--log-level {log_level!r}: use one of {', '.join(_LEVELS)}")
    try:
        import fastapi  # noqa: F401
        import jinja2  # noqa: F401
        import uvicorn
    except ImportError as e:
        raise DependencyMissing(f"proda studio needs the studio extra ({e.name} is missing): "
                                "pip install 'proda[studio]'") from e
    settings = settings_from(ctx)
    if not is_loopback(host) and not settings.bearer_tokens():
        raise ConfigError(f"refusing to serve the Studio on {host} without authentication: set PRODA_API_TOKENS "
                          "(or listen on 127.0.0.1)")
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    from proda.services.studio.app import create_app
    from proda.services.studio.hosting import Operations, ReadOnlyOperations, open_operations
    from proda.services.studio.jobs import studio_registry

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host.strip("[]"), port))
    except OSError as e:
        listener.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {e}") from e
    bound = listener.getsockname()[1]
    with store_for(ctx) as store:
        async def operations() -> Operations:
            if read_only:
                from proda.services.server import OPERATIONS_FILE

                return ReadOnlyOperations(settings.home.resolve() / OPERATIONS_FILE, studio_registry())
            ops = await open_operations(settings, store, grpc_port=grpc_port, max_jobs=max_jobs)
            where = ("hosted here, gRPC on " if ops.mode == "hosted" else "on proda serve at ") + ops.address
            print(f"proda studio: operations of {settings.home} {where}", flush=True)
            return ops

        app = create_app(settings, store, host=host, read_only=read_only, operations=operations)
        config = uvicorn.Config(app, log_level=log_level.lower(), loop="asyncio", lifespan="on",
                                timeout_graceful_shutdown=3, access_log=log_level.lower() == "debug")
        server = uvicorn.Server(config)
        shown = f"[{host}]" if ":" in host else host
        print(f"proda studio: http://{shown}:{bound}/ ({'read-only' if read_only else 'read-write'}, "
              f"auth {'on' if settings.bearer_tokens() else 'off'})", flush=True)
        asyncio.run(server.serve(sockets=[listener]))
