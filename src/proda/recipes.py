"""Recipes: the YAML files (or flag mappings) that configure a stage's TRL-style config dataclass.

Every stage config (``TrainConfig``, ``BenchConfig``, ``PatchConfig``, ...) is a dataclass whose
fields carry their help, like TRL's ``SFTConfig``; ``defaults < recipe < flags``. This mixin is the
one place that turns a mapping into such a config, so every command fails the same way on a key it
does not know, naming the key and listing the known ones, and on a value of the wrong type, naming
the field. It is hand-written because the configs are plain dataclasses (HfArgumentParser would bring
argparse semantics the typer CLI does not use); the values are checked by pydantic.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any, Self

from pydantic import TypeAdapter, ValidationError
from pydantic.errors import PydanticSchemaGenerationError

from proda.errors import ConfigError


@cache
def _adapters(cls: type) -> dict[str, TypeAdapter[Any]]:
    """A pydantic adapter per field of the dataclass ``cls`` whose annotation pydantic can check."""
    hints = typing.get_type_hints(cls)
    out: dict[str, TypeAdapter[Any]] = {}
    for f in dataclasses.fields(cls):
        try:
            out[f.name] = TypeAdapter(hints[f.name])
        except (PydanticSchemaGenerationError, KeyError):  # a type pydantic does not know is passed as given
            continue
    return out


def _checked(cls: type, values: dict[str, Any], source: str) -> dict[str, Any]:
    """``values`` converted to their fields' types where that loses nothing (YAML reads ``2e-5`` as a
    string, a list for a tuple, ``10.0`` from JSON for an int); a value that is not of its field's type
    is a :class:`ConfigError` naming the field, its value and what it must be."""
    adapters = _adapters(cls)
    out = dict(values)
    for name, value in values.items():
        adapter = adapters.get(name)
        if adapter is None:
            continue
        try:
            out[name] = adapter.validate_python(value)
        except ValidationError as e:
            reason = "; ".join(err["msg"] for err in e.errors(include_url=False))
            raise ConfigError(f"{source}: {name}: {reason} (got {value!r})") from None
    return out


class FromRecipe:
    """Mixin of the config dataclasses: :meth:`from_dict` builds one from a recipe mapping."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "recipe") -> Self:
        """Build from a mapping (a YAML recipe, or flags); unknown keys and mistyped values fail with their names.

        Values are converted to their field's type where the conversion is exact (pydantic's lax mode:
        ``"2e-5"`` to a float, a list to a tuple); a field's own checks (``__post_init__``) then run. A
        failure (e.g. a missing required field) is a :class:`ConfigError` naming ``source``.
        """
        spec = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - spec)
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(spec))}")
        values = _checked(cls, cls._prepare(dict(data), source), source)
        try:
            return cls(**values)
        except TypeError as e:
            raise ConfigError(f"{source}: {e}") from e

    @classmethod
    def _prepare(cls, values: dict[str, Any], source: str) -> dict[str, Any]:
        """Hook: a config may accept a friendlier spelling of a field (e.g. ``"test,dev"``)."""
        return values
