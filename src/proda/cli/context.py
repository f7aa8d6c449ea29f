"""Settings and store access for CLI commands (the entry point owns the driver and injects it)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from proda.errors import ConfigError

if TYPE_CHECKING:  # the store pulls in redis and the drivers: only commands that use it pay for it
    from proda.config import Settings
    from proda.schema.store import GraphStore


def settings_from(ctx: typer.Context) -> Settings:
    """The settings built by the root callback."""
    from proda.config import Settings

    obj = ctx.find_root().obj
    if not isinstance(obj, Settings):  # a command invoked without the root callback (tests)
        obj = load_settings(None)
    return obj


def load_settings(home: Path | None, **overrides: object) -> Settings:
    """Validate settings from the environment plus CLI overrides; raises :class:`ConfigError`."""
    from pydantic import ValidationError

    from proda.config import Settings

    values = {k: v for k, v in overrides.items() if v is not None}
    if home is not None:
        values["home"] = home
    try:
        return Settings.model_validate(values)
    except ValidationError as e:
        first = e.errors()[0]
        raise ConfigError(f"invalid setting {'.'.join(map(str, first['loc']))}: {first['msg']}") from e


@contextlib.contextmanager
def store_for(ctx: typer.Context, *, keep_running: bool = False) -> Iterator[GraphStore]:
    """Open the configured graph (starting the embedded one if needed) for one command."""
    from proda.schema.store import open_store

    with open_store(settings_from(ctx), keep_running=keep_running) as store:
        yield store


def load_recipe(path: Path | None, what: str) -> dict[str, Any]:
    """The mapping in a YAML recipe (``{}`` without one); ``what`` names the config class for errors.

    Recipes give a job's config fields; command-line flags override them (TRL's convention).
    """
    if path is None:
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot read recipe: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a recipe is a mapping of {what} fields")
    return data
