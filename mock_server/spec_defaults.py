"""The `default`s a schema states, applied to a checked body: worked out once per schema (a plan
of where they are), not by walking the schema on every request."""

from __future__ import annotations

import copy
from typing import Any


def _resolve(root: Any, node: Any) -> Any:
    """A schema with its local `$ref` followed (the spec's own `#/...` references)."""
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) \
            and node["$ref"].startswith("#/"):
        target: Any = root
        for part in node["$ref"][2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


# A member's default (or _NO_DEFAULT) and the plan of its own members.
DefaultsPlan = dict[str, tuple[Any, "DefaultsPlan"]]
_NO_DEFAULT = object()


def defaults_plan(root: Any, schema: Any, depth: int = 0) -> DefaultsPlan:
    """Where a schema's objects state `default`s, worked out once: only the members that have
    one, or whose own members do, are kept."""
    schema = _resolve(root, schema)
    if not isinstance(schema, dict) or depth > 16:
        return {}
    members: dict[str, Any] = {}
    for part in [schema, *(_resolve(root, s) for s in schema.get("allOf", ()))]:
        if isinstance(part, dict):
            members.update(part.get("properties", {}))
    plan: DefaultsPlan = {}
    for name, member in members.items():
        default = member.get("default", _NO_DEFAULT) if isinstance(member, dict) else _NO_DEFAULT
        inner = defaults_plan(root, member, depth + 1)
        if default is not _NO_DEFAULT or inner:
            plan[name] = (default, inner)
    return plan


def with_defaults(plan: DefaultsPlan, value: Any) -> Any:
    """`value` (a checked body) with the spec's `default` of every member it leaves out, in
    its objects at any depth, so that code reads what the spec says an absent member means
    instead of restating it. The value is not changed in place; without defaults to add, it is
    returned as it is."""
    if not plan or not isinstance(value, dict):
        return value
    filled: dict[str, Any] | None = None
    for name, (default, inner) in plan.items():
        if name in value:
            new = with_defaults(inner, value[name])
            if new is not value[name]:
                filled = filled if filled is not None else dict(value)
                filled[name] = new
        elif default is not _NO_DEFAULT:
            filled = filled if filled is not None else dict(value)
            filled[name] = copy.deepcopy(default)
    return filled if filled is not None else value
