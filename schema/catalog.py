"""The named Cypher query catalog.

Each query is a ``.cypher`` file under ``schema/cypher/`` whose header comment documents it, so an
analyst can paste the whole file into Neo4j Browser or FalkorDB's console::

    // name: concept_neighbours
    // purpose: L2 neighbours of a concept, both directions.
    // param id: string - the concept id
    // param limit: int = 50 - most rows returned
    // columns: direction, type, neighbour_id, neighbour_name, relation_id, evidence
    // mode: read

Where the dialects differ, ``NAME.falkordb.cypher`` / ``NAME.neo4j.cypher`` override ``NAME.cypher``
for that backend. Values are always ``$parameters``; query text is never built from user input.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

from proda.errors import ConfigError, InputError, NotFound

Backend = Literal["falkordb", "neo4j"]
BACKENDS: tuple[Backend, ...] = ("falkordb", "neo4j")
ParamType = Literal["string", "int", "float", "bool", "list", "map", "any"]
_PARAM_TYPES: tuple[str, ...] = ("string", "int", "float", "bool", "list", "map", "any")
_PARAM_LINE = re.compile(
    r"^(?P<name>[a-z_][a-z0-9_]*)\s*:\s*(?P<type>[a-z]+)(?P<opt>\?)?(?:\s*=\s*(?P<default>\S+))?"
    r"(?:\s+-\s+(?P<doc>.*))?$"
)
_NO_DEFAULT = object()


@dataclass(frozen=True)
class Param:
    """One declared parameter of a catalog query."""

    name: str
    type: ParamType
    doc: str = ""
    optional: bool = False
    default: Any = None

    @property
    def required(self) -> bool:
        return not self.optional and self.default is None

    def coerce(self, value: Any, query: str) -> Any:
        """Convert a (possibly string) value to this parameter's type; raises :class:`InputError`."""
        if value is None:
            if self.required:
                raise InputError(f"parameter {self.name!r} is required", source=f"query {query}")
            return None
        try:
            if self.type == "string":
                return str(value)
            if self.type == "int":
                if isinstance(value, bool):
                    raise ValueError("a boolean is not an int")
                return int(value)
            if self.type == "float":
                return float(value)
            if self.type == "bool":
                if isinstance(value, bool):
                    return value
                s = str(value).strip().lower()
                if s in ("true", "1", "yes"):
                    return True
                if s in ("false", "0", "no"):
                    return False
                raise ValueError(f"{value!r} is not a boolean")
            if self.type in ("list", "map"):
                parsed = json.loads(value) if isinstance(value, str) else value
                want = list if self.type == "list" else dict
                if not isinstance(parsed, want):
                    raise ValueError(f"expected a JSON {self.type}")
                return parsed
            return value
        except (ValueError, TypeError) as e:
            raise InputError(
                f"parameter {self.name!r} must be {self.type}: {e}", source=f"query {query}"
            ) from e


@dataclass(frozen=True)
class Query:
    """A named catalog query with its per-backend texts."""

    name: str
    purpose: str
    params: tuple[Param, ...]
    columns: tuple[str, ...]
    mode: Literal["read", "write"]
    texts: Mapping[str, str] = field(repr=False)

    @property
    def read_only(self) -> bool:
        return self.mode == "read"

    def text(self, backend: str) -> str:
        """The query text for ``backend`` (the shared text unless a variant exists)."""
        return self.texts.get(backend) or self.texts["common"]

    def variants(self) -> list[str]:
        return sorted(self.texts)

    def bind(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and coerce ``values`` against the declared parameters; defaults fill the rest.

        Raises :class:`InputError` naming an unknown, missing or ill-typed parameter.
        """
        known = {p.name: p for p in self.params}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise InputError(
                f"unknown parameter(s) {', '.join(unknown)}; declared: {', '.join(known) or 'none'}",
                source=f"query {self.name}",
            )
        bound: dict[str, Any] = {}
        for p in self.params:
            raw = values.get(p.name, p.default)
            bound[p.name] = p.coerce(raw, self.name)
        return bound


def _parse(name: str, text: str, origin: str) -> tuple[str, tuple[Param, ...], tuple[str, ...], str]:
    purpose, mode = "", "read"
    params: list[Param] = []
    columns: tuple[str, ...] = ()
    for line in text.splitlines():
        s = line.strip()
        if not s.startswith("//"):
            if s:
                break  # the header ends at the first line of Cypher
            continue
        body = s[2:].strip()
        key, _, value = body.partition(":")
        key, value = key.strip(), value.strip()
        if key == "name" and value != name:
            raise ConfigError(f"{origin}: header names {value!r} but the file is {name!r}")
        if key == "purpose":
            purpose = value
        elif key == "mode":
            if value not in ("read", "write"):
                raise ConfigError(f"{origin}: mode must be read or write, got {value!r}")
            mode = value
        elif key == "columns":
            columns = tuple(c.strip() for c in value.split(",") if c.strip())
        elif key.startswith("param "):
            m = _PARAM_LINE.match(key[len("param "):].strip() + ": " + value)
            if m is None or m.group("type") not in _PARAM_TYPES:
                raise ConfigError(f"{origin}: cannot parse parameter line {s!r}")
            default: Any = None
            if m.group("default") is not None:
                default = json.loads(m.group("default"))
            params.append(
                Param(
                    name=m.group("name"),
                    type=m.group("type"),  # type: ignore[arg-type]  # checked against _PARAM_TYPES above
                    doc=(m.group("doc") or "").strip(),
                    optional=m.group("opt") == "?",
                    default=default,
                )
            )
    if not purpose:
        raise ConfigError(f"{origin}: header lacks a '// purpose:' line")
    return purpose, tuple(params), columns, mode


class Catalog:
    """The set of named queries shipped in ``proda.schema/cypher``."""

    def __init__(self, queries: Mapping[str, Query]) -> None:
        self._queries = dict(queries)

    @classmethod
    def load(cls) -> Catalog:
        """Read every ``.cypher`` file of the package; raises :class:`ConfigError` on a bad header."""
        files: dict[str, dict[str, str]] = {}
        root = resources.files("proda.schema") / "cypher"
        for entry in root.iterdir():
            if not entry.name.endswith(".cypher"):
                continue
            stem = entry.name[: -len(".cypher")]
            base, _, variant = stem.partition(".")
            if variant and variant not in BACKENDS:
                raise ConfigError(f"{entry.name}: unknown backend variant {variant!r}")
            files.setdefault(base, {})[variant or "common"] = entry.read_text(encoding="utf-8")
        queries: dict[str, Query] = {}
        for name, texts in sorted(files.items()):
            header_src = texts.get("common") or next(iter(texts.values()))
            purpose, params, columns, mode = _parse(name, header_src, f"{name}.cypher")
            if "common" not in texts and set(texts) != set(BACKENDS):
                missing = sorted(set(BACKENDS) - set(texts))
                raise ConfigError(f"query {name!r} has no common text and no variant for {missing}")
            queries[name] = Query(name, purpose, params, columns, mode, texts)  # type: ignore[arg-type]
        return cls(queries)

    def names(self) -> list[str]:
        return sorted(self._queries)

    def __iter__(self) -> Any:
        return iter(self._queries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._queries

    def get(self, name: str) -> Query:
        """The query called ``name``; raises :class:`NotFound` with the closest names (a typo), else all of them."""
        try:
            return self._queries[name]
        except KeyError:
            close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.75)
            hint = f"did you mean {' or '.join(close)}?" if close else f"known: {', '.join(self.names())}"
            raise NotFound(f"no catalog query {name!r}; {hint}") from None


@cache
def default_catalog() -> Catalog:
    """The packaged catalog, parsed once per process."""
    return Catalog.load()
