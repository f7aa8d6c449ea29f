"""Where batch shards run: in this process (default) or on Ray. Stages never know which.

A stage cuts its job into picklable shard specs and hands them, with one shard function, to
:func:`run_shards`. The function is called as ``fn(spec, env)``; its :class:`ShardEnv` gives it
everything that depends on where it runs:

* ``env.store``: the graph. Locally the caller's injected store (the runner never closes it); on
  Ray a connection opened in the worker from that store's :class:`StoreSpec` and closed after the
  shard.
* ``env.progress``: the caller's progress callback locally; None on Ray (a worker cannot draw the
  driver's progress bar; ``on_done`` reports each shard as it finishes instead).
* ``env.resource(key, factory)``: heavy objects (a model, an extractor, an LLM client) made once per
  process. Locally the cache is the caller's env, pre-seeded with the objects it injected (tests and
  services inject fakes and shared clients this way); on Ray it lives as long as the worker process.

Executor names are validated here only (:func:`check_executor`), for every stage config.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, cast

from proda.errors import ConfigError, DependencyMissing
from proda.schema.store.base import GraphStore, StoreSpec

EXECUTORS = ("local", "ray")

S = TypeVar("S")
R = TypeVar("R")
P = TypeVar("P", bound=Callable[..., None])


def check_executor(name: str) -> str:
    """``name`` when it is an executor (``local`` or ``ray``); raises :class:`ConfigError` otherwise."""
    if name not in EXECUTORS:
        raise ConfigError(f"unknown executor {name!r}: use one of {', '.join(EXECUTORS)}")
    return name


def executor_field(unit: str) -> Any:
    """The ``executor`` field of a stage config (default ``local``); ``unit`` says what one shard is.

    The config's ``__post_init__`` validates it with :func:`check_executor`.
    """
    return field(default="local", metadata={"help": f"local (this process) or ray: {unit}"})


class ShardEnv(Generic[P]):
    """What a shard gets from where it runs: its graph store, its progress callback, its resources.

    A stage builds one for the local case (``ShardEnv(store, progress, resources={...injected})``)
    and passes it to :func:`run_shards`; on Ray the runner builds one per shard in the worker. Used
    as a context manager, it closes the resources it made itself (never the seeded ones, never the
    store).
    """

    def __init__(self, store: GraphStore | None = None, progress: P | None = None,
                 resources: Mapping[Hashable, object] | None = None) -> None:
        self._store = store
        self.progress = progress
        self._cache: dict[Hashable, object] = dict(resources or {})
        self._made: list[object] = []  # what this env made (and so closes); seeded objects are the caller's
        self._per_shard: dict[Hashable, object] | None = None  # only in a worker: see resource(reuse=False)
        self._used: set[Hashable] = set()

    @classmethod
    def _in_worker(cls, store: GraphStore | None, process_cache: dict[Hashable, object]) -> ShardEnv[P]:
        env: ShardEnv[P] = cls(store)
        env._cache = process_cache  # shared by every shard this worker process runs
        env._per_shard = {}
        return env

    @property
    def store(self) -> GraphStore:
        """The shard's graph store; raises RuntimeError when the stage gave none (a stage without a graph)."""
        if self._store is None:
            raise RuntimeError("this shard runs without a graph store: pass store= to the ShardEnv")
        return self._store

    def store_spec(self) -> StoreSpec | None:
        """How a worker process reaches the same graph (None: the stage has no graph)."""
        return None if self._store is None else self._store.spec()

    def resource(self, key: Hashable, factory: Callable[[], R], *, reuse: bool = True) -> R:
        """The object under ``key``, made by ``factory`` on first use and kept: locally for the whole
        run (unless the caller seeded it), on a Ray worker for the life of the worker process.

        ``key`` must name everything that makes two objects differ (model, settings): a Ray worker
        keeps its cache across shards and runs. ``reuse=False`` is for objects with a per-shard
        budget or usage count (LLM clients): a worker makes a fresh one for each shard and closes it
        after; locally the run's one (seeded or made once) serves every shard, as a budget is then
        per run.
        """
        self._used.add(key)
        if key in self._cache:
            return cast(R, self._cache[key])  # the key's factory decided its type
        if not reuse and self._per_shard is not None:
            if key not in self._per_shard:
                self._per_shard[key] = factory()
            return cast(R, self._per_shard[key])
        value = factory()
        self._cache[key] = value
        if self._per_shard is None:  # a worker's process cache outlives this env: never closed by it
            self._made.append(value)
        return value

    def used(self, key: Hashable) -> object | None:
        """The object under ``key`` if a shard used it through this env (None otherwise, e.g. when the
        shards ran on Ray): what a stage reports on after a local run, such as LLM usage."""
        return self._cache.get(key) if key in self._used else None

    def close(self) -> None:
        """Close what this env made (objects with a ``close()``), newest first; seeded objects stay open."""
        made = [*self._made, *(self._per_shard or {}).values()]
        self._made.clear()
        if self._per_shard is not None:
            self._per_shard.clear()
        else:
            self._cache = {k: v for k, v in self._cache.items() if not any(v is m for m in made)}
        for obj in reversed(made):
            close = getattr(obj, "close", None)
            if callable(close):
                close()

    def __enter__(self) -> ShardEnv[P]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Executor(Protocol):
    """Runs ``fn`` over shard specs; ``on_done`` is called in the driver as each shard finishes."""

    name: str

    def run(self, fn: Callable[[S, ShardEnv[P]], R], specs: Sequence[S], on_done: Callable[[S, R], None],
            env: ShardEnv[P]) -> None: ...


class LocalExecutor:
    """One shard after another, in this process, all on the caller's ``env``."""

    name = "local"

    def run(self, fn: Callable[[S, ShardEnv[P]], R], specs: Sequence[S], on_done: Callable[[S, R], None],
            env: ShardEnv[P]) -> None:
        for spec in specs:
            on_done(spec, fn(spec, env))


# A Ray worker process runs many shards (of many runs): its heavy resources are made once here.
_WORKER_RESOURCES: dict[Hashable, object] = {}


def _run_in_worker(fn: Callable[[S, ShardEnv[Any]], R], spec: S, store: StoreSpec | None) -> R:
    """One shard in a worker: its own graph connection, the process's resources, no progress callback."""
    opened = store.open() if store is not None else None
    env: ShardEnv[Any] = ShardEnv._in_worker(opened, _WORKER_RESOURCES)
    try:
        return fn(spec, env)
    finally:
        env.close()
        if opened is not None:
            opened.close()


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

    def run(self, fn: Callable[[S, ShardEnv[P]], R], specs: Sequence[S], on_done: Callable[[S, R], None],
            env: ShardEnv[P]) -> None:
        ray = self._ray
        remote = ray.remote(_run_in_worker)
        store = env.store_spec()  # the caller's objects stay here: workers get only how to reach the graph
        pending: dict[Any, S] = {remote.remote(fn, spec, store): spec for spec in specs}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                spec = pending.pop(ref)
                on_done(spec, ray.get(ref))  # re-raises a shard's exception here, in the driver

    def shutdown(self) -> None:
        self._ray.shutdown()


def make_executor(name: str, *, address: str | None = None, num_cpus: int | None = None) -> Executor:
    """``local`` or ``ray``; raises :class:`ConfigError` for anything else."""
    if check_executor(name) == "local":
        return LocalExecutor()
    return RayExecutor(address=address, num_cpus=num_cpus)


def run_shards(executor: str | Executor, fn: Callable[[S, ShardEnv[P]], R], specs: Sequence[S],
               on_done: Callable[[S, R], None], env: ShardEnv[P] | None = None) -> None:
    """Run ``fn(spec, env)`` for every spec on ``executor`` (a name or an executor), calling
    ``on_done(spec, result)`` in this process as each shard finishes.

    ``env`` is the local one (store, progress, injected resources); with Ray only its store's
    :class:`StoreSpec` travels to the workers. Raises :class:`ConfigError` for an unknown executor
    name, :class:`DependencyMissing` for Ray when it is not installed, and re-raises a shard's error.
    """
    runner = make_executor(executor) if isinstance(executor, str) else executor
    runner.run(fn, specs, on_done, env if env is not None else ShardEnv())


@dataclass(kw_only=True)
class ShardOutcome:
    """What every resumable shard reports besides its own counts."""

    stopped: str | None = None  # why the shard stopped early (budget, backend): a rerun resumes it
    seconds: float = 0.0


T = TypeVar("T", bound=ShardOutcome)


@dataclass
class ShardReport(Generic[T]):
    """A run's shard results, in the order the shards finished."""

    shards: list[T] = field(default_factory=list, kw_only=True)

    @property
    def stopped(self) -> list[T]:
        """The shards that stopped early (a rerun resumes them)."""
        return [s for s in self.shards if s.stopped]

    def collect(self, on_shard: Callable[[T], None] | None = None) -> Callable[[object, T], None]:
        """An ``on_done`` for :func:`run_shards`: keeps each result, then tells ``on_shard``."""

        def done(_spec: object, result: T) -> None:
            self.shards.append(result)
            if on_shard is not None:
                on_shard(result)

        return done
