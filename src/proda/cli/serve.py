"""``proda serve``: the gRPC API (package proda.v1) on the embedded or configured graph."""

from __future__ import annotations

import typer

from proda.cli.context import settings_from, store_for
from proda.errors import InputError

_LEVELS = ("debug", "info", "warning", "error")


def serve(
    ctx: typer.Context,
    host: str | None = typer.Option(None, "--host", help="Address to listen on (default PRODA_GRPC_HOST or "
                                    "127.0.0.1). Beyond loopback, PRODA_API_TOKENS must be set."),
    port: int | None = typer.Option(None, "--port", min=0, max=65535, help="Port (default PRODA_GRPC_PORT or "
                                    "50051; 0 picks a free one and prints it)."),
    max_jobs: int | None = typer.Option(None, "--max-jobs", min=0, help="Jobs run at once, each in its own "
                                        "process (default PRODA_GRPC_MAX_JOBS or 2)."),
    log_level: str = typer.Option("info", "--log-level", help="debug, info (one JSON access line per call), "
                                  "warning or error."),
) -> None:
    """Serve knowledge queries and long-running jobs over gRPC until SIGTERM or Ctrl-C.

    Services: KnowledgeService, SynthesisService, EvaluationService, TrainingService and
    OperationsService, plus grpc.health.v1 health and server reflection. Authentication: bearer
    tokens from PRODA_API_TOKENS; TLS: PRODA_GRPC_TLS_CERT and PRODA_GRPC_TLS_KEY. Jobs are kept in
    $PRODA_HOME/operations.sqlite3 and survive a restart. On SIGTERM the server stops taking calls,
    gives in-flight ones PRODA_GRPC_SHUTDOWN_GRACE_S seconds, and stops running jobs (resumable).
    """
    import asyncio
    import logging

    from proda.services.server import ProdaServer
    from proda.services.server import serve as run

    if log_level.lower() not in _LEVELS:
        raise InputError(f"--log-level {log_level!r}: use one of {', '.join(_LEVELS)}")
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = settings_from(ctx)
    if max_jobs is not None:
        settings = settings.model_copy(update={"grpc_max_jobs": max_jobs})

    def ready(server: ProdaServer) -> None:
        # one plain line on stdout, so scripts (and tests) can learn the port when --port 0 picked it
        print(f"proda serve: listening on {server.address} ({'TLS' if server.tls else 'plaintext'}, "
              f"auth {'on' if settings.bearer_tokens() else 'off'})", flush=True)

    with store_for(ctx) as store:
        asyncio.run(run(settings, store, host=host, port=port, on_ready=ready))
