"""Where batch shards run: in this process (default) or on Ray. Stages never know which.

A shard function takes one picklable spec and returns one picklable result; it opens its own graph
connection from the spec, so the same function runs in a local loop or in a Ray worker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from proda.errors import ConfigError, DependencyMissing

S = TypeVar("S")
R = TypeVar("R")


class Executor(Protocol):
    """Runs ``fn`` over shard specs; ``on_done`` is called in the driver as each shard finishes."""

    name: str

    def run(self, fn: Callable[[S], R], specs: Sequence[S], on_done: Callable[[S, R], None]) -> None: ...


class LocalExecutor:
    """One shard after another, in this process (progress callbacks inside shards work here)."""

    name = "local"

    def run(self, fn: Callable[[S], R], specs: Sequence[S], on_done: Callable[[S, R], None]) -> None:
        for spec in specs:
            on_done(spec, fn(spec))


class RayExecutor:
    """Shards as Ray tasks: a local Ray instance by default, or a cluster at ``address``."""

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        try:
            import ray
        except ImportError as e:
            raise DependencyMissing("ray", extra="ray", why="for --executor ray") from e
        self._ray = ray
        if not ray.is_initialized():
            ray.init(address=address, num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                     ignore_reinit_error=True)

    def run(self, fn: Callable[[S], R], specs: Sequence[S], on_done: Callable[[S, R], None]) -> None:
        ray = self._ray
        remote = ray.remote(fn)
        pending: dict[Any, S] = {remote.remote(spec): spec for spec in specs}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                spec = pending.pop(ref)
                on_done(spec, ray.get(ref))  # re-raises a shard's exception here, in the driver

    def shutdown(self) -> None:
        self._ray.shutdown()


def make_executor(name: str, *, address: str | None = None, num_cpus: int | None = None) -> Executor:
    """``local`` or ``ray``; raises :class:`ConfigError` for anything else."""
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(address=address, num_cpus=num_cpus)
    raise ConfigError(f"unknown executor {name!r}: use local or ray")
