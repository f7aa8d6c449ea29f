"""Recipes: the YAML files (or flag mappings) that configure a stage's TRL-style config dataclass.

Every stage config (``TrainConfig``, ``BenchConfig``, ``PatchConfig``, ...) is a dataclass whose
fields carry their help, like TRL's ``SFTConfig``; ``defaults < recipe < flags``. This mixin is the
one place that turns a mapping into such a config, so every command fails the same way on a key it
does not know, naming the key and listing the known ones. It is hand-written because the configs are
plain dataclasses (HfArgumentParser would bring argparse semantics the typer CLI does not use).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Self

from proda.errors import ConfigError


class FromRecipe:
    """Mixin of the config dataclasses: :meth:`from_dict` builds one from a recipe mapping."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "recipe") -> Self:
        """Build from a mapping (a YAML recipe, or flags); unknown keys fail with their names.

        YAML has no tuples: a list given for a tuple-typed field becomes a tuple. A field type that
        fails (e.g. a missing required field) is a :class:`ConfigError` naming ``source``.
        """
        spec = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - set(spec))
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(spec))}")
        values = {k: tuple(v) if isinstance(v, list) and str(spec[k].type).startswith("tuple") else v
                  for k, v in data.items()}
        values = cls._prepare(values, source)
        try:
            return cls(**values)
        except TypeError as e:
            raise ConfigError(f"{source}: {e}") from e

    @classmethod
    def _prepare(cls, values: dict[str, Any], source: str) -> dict[str, Any]:
        """Hook: a config may accept a friendlier spelling of a field (e.g. ``"test,dev"``)."""
        return values
