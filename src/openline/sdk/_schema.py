"""JSON schema of a tool's parameters, derived from its Python signature.

`Annotated[T, "description"]` supplies the description; a default makes the
parameter optional. Only what an LLM needs is produced: types, enums, arrays,
descriptions, required names.
"""

from __future__ import annotations

import enum
import inspect
import types
import typing
from collections.abc import Callable
from typing import Any

_SIMPLE: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    dict: "object",
    list: "array",
}


def parameters_schema(fn: Callable[..., Any], *, skip_first: bool) -> dict[str, Any]:
    """Schema for `fn`'s parameters; the context parameter is skipped when `skip_first`."""
    hints = typing.get_type_hints(fn, include_extras=True)
    params = list(inspect.signature(fn).parameters.values())
    if skip_first:
        params = params[1:]
    properties: dict[str, Any] = {}
    required: list[str] = []
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        prop = type_schema(hints.get(p.name, str))
        if p.default is p.empty:
            required.append(p.name)
        elif _is_json_scalar(p.default):
            prop["default"] = p.default
        properties[p.name] = prop
    return {"type": "object", "properties": properties, "required": required}


def type_schema(tp: Any) -> dict[str, Any]:
    """Schema for one annotation."""
    description = None
    if typing.get_origin(tp) is typing.Annotated:
        tp, *extras = typing.get_args(tp)
        description = next((x for x in extras if isinstance(x, str)), None)
    schema = _bare_type_schema(tp)
    if description:
        schema["description"] = description
    return schema


def _bare_type_schema(tp: Any) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        # Optional[X] is described as X: the LLM may simply leave it out.
        non_null = [a for a in args if a is not type(None)]
        if len(non_null) == 1:
            return type_schema(non_null[0])
        return {"anyOf": [type_schema(a) for a in non_null]}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": [m.value for m in tp]}
    if origin in (list, tuple, set, frozenset):
        schema: dict[str, Any] = {"type": "array"}
        if args and args[0] is not Ellipsis:
            schema["items"] = type_schema(args[0])
        return schema
    if origin is dict:
        return {"type": "object"}
    if tp in _SIMPLE:
        return {"type": _SIMPLE[tp]}
    return {}  # anything else: let the LLM send any JSON value


def _is_json_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))
