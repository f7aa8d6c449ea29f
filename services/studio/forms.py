"""Job forms drawn from the job kinds' own parameter models, and the posted text turned back into values.

A job's form is its spec (:mod:`proda.services.jobs`): one input per field with the field's help as
the hint and its default as the placeholder, so a field added to a stage's config appears on the page
with no edit here. A YAML recipe pasted into the form gives the same fields (defaults < recipe <
form, the CLI's precedence); the registry validates the merged values and its message names the
field, which the page shows next to the form.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel

from proda.errors import InputError

RECIPE_FIELD = "recipe"


@dataclass(frozen=True)
class FormField:
    """One input of a job form."""

    name: str
    kind: str  # text, number, checkbox, select, lines
    default: Any
    help: str
    required: bool
    choices: tuple[str, ...] = ()


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """The annotation without ``| None`` (and ``Annotated``), and whether None was allowed."""
    optional = False
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        optional = len(args) < len(get_args(annotation))
        if len(args) == 1:
            inner, _ = _unwrap(args[0])
            return inner, optional
    return annotation, optional


def _kind(annotation: Any) -> tuple[str, tuple[str, ...]]:
    if get_origin(annotation) is Literal:
        return "select", tuple(str(a) for a in get_args(annotation))
    if annotation is bool:
        return "checkbox", ()
    if annotation in (int, float):
        return "number", ()
    if get_origin(annotation) in (tuple, list):
        return "lines", ()
    return "text", ()


def form_fields(spec: type[BaseModel], only: tuple[str, ...] | None = None) -> list[FormField]:
    """The inputs of ``spec`` (all its fields, or ``only`` these, in that order)."""
    names = only or tuple(spec.model_fields)
    out = []
    for name in names:
        info = spec.model_fields[name]
        annotation, _ = _unwrap(info.annotation)
        kind, choices = _kind(annotation)
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        out.append(FormField(name=name, kind=kind, default=default, help=info.description or "",
                             required=info.is_required(), choices=choices))
    return out


def posted_values(spec: type[BaseModel], form: Mapping[str, Any]) -> dict[str, Any]:
    """The job values a form posted: a YAML recipe first, then every filled-in field over it.

    Empty inputs keep the default; a checkbox is true when sent; ``lines`` fields split on new lines
    and commas. Raises :class:`InputError` for a recipe that is not a YAML mapping.
    """
    values: dict[str, Any] = {}
    recipe = str(form.get(RECIPE_FIELD) or "").strip()
    if recipe:
        import yaml

        try:
            data = yaml.safe_load(recipe)
        except yaml.YAMLError as e:
            raise InputError(f"recipe: not YAML: {str(e).splitlines()[0]}") from e
        if not isinstance(data, dict):
            raise InputError("recipe: a recipe is a mapping of the job's fields (key: value lines)")
        values.update(data)
    for name, info in spec.model_fields.items():
        annotation, _ = _unwrap(info.annotation)
        kind, _ = _kind(annotation)
        if kind == "checkbox":
            if f"{name}__present" in form:  # the form drew this checkbox: unticked means false
                values[name] = name in form
            continue
        raw = form.get(name)
        if raw is None:
            continue
        text = str(raw).strip()
        if not text:
            continue
        if kind == "lines":
            values[name] = [p.strip() for chunk in text.splitlines() for p in chunk.split(",") if p.strip()]
        else:
            values[name] = text
    return values
