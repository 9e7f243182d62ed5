"""Fixture-driven scenarios: YAML files of requests with the answers the documents promise.

A scenario is a list of steps. A step sends one request (`request`) or, marked `control`, calls
the mock's control plane (skipped, with the rest of the scenario, against a server without one).
`expect` gives the status, the ExoBridge `code`, and body fragments that must be present (objects
match by subset, lists and scalars exactly); `operation` names the spec operation whose response
schema the answer must match; `save` keeps values from the answer for later steps, by dotted path.
Strings may use `{name}` placeholders: `greenpin`, `greenvn` (collection paths), `tenant`,
`prefix` (unique to the run), `vn1`..`vn3`, `n1`..`n30` (party numbers unique to the run),
`seq`/`seqnumber` inside a repeated step, lists made by `generate`, and whatever earlier steps
saved. `breaks_spec` marks a request that breaks `exobridge.yaml` on purpose (a missing member,
a value out of its schema, no credentials), to see the documented refusal: a validating proxy
(Prism) must flag exactly these (`benchmarks/prism_proxy.py`).
"""

from __future__ import annotations

import random
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .contract import FIXTURES_DIR

SCENARIOS_DIR = FIXTURES_DIR / "scenarios"
_PLACEHOLDER = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}")


@dataclass
class Step:
    name: str
    request: dict[str, Any]
    expect: dict[str, Any] = field(default_factory=dict)
    operation: str | None = None
    save: dict[str, str] = field(default_factory=dict)
    control: bool = False
    # Sends the request this many times; `{seq}` and `{seqnumber}` differ each time.
    repeat: int = 1
    auth: str = "tenant"  # tenant, none, wrong
    breaks_spec: bool = False
    # Lists built before the request: `{name: {count: N, item: {...}}}` makes `{name}` a list.
    generate: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Scenario:
    name: str
    description: str
    steps: list[Step]
    path: Path

    @property
    def needs_control_plane(self) -> bool:
        return any(step.control for step in self.steps)

    @property
    def creates(self) -> bool:
        return any(
            step.request.get("method", "GET").upper() != "GET" and not step.control
            for step in self.steps
        )


def load_scenarios(directory: Path = SCENARIOS_DIR) -> list[Scenario]:
    found = []
    for path in sorted(directory.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        steps = [Step(**step) for step in raw["steps"]]
        found.append(Scenario(raw["name"], raw.get("description", ""), steps, path))
    return found


def run_variables(seed: int, prefix: str, tenant: str, vns: list[str],
                  run: str | None = None) -> dict[str, Any]:
    """Placeholders for one run: ids and party numbers drawn from the seed and a token of the
    run (random unless given), so that runs against one server never meet each other's
    allocations, even with the same seed."""
    run = run or secrets.token_hex(3)
    rng = random.Random(f"{seed}-{run}")
    variables: dict[str, Any] = {
        "tenant": tenant,
        "greenpin": f"/v1/tenants/{tenant}/greenpin",
        "greenvn": f"/v1/tenants/{tenant}/greenvn",
        "prefix": f"{prefix}{run}-",
    }
    for index, vn in enumerate(vns, start=1):
        variables[f"vn{index}"] = vn
    first = rng.randrange(100_000, 900_000)
    for index in range(1, 31):
        variables[f"n{index}"] = f"98{first + index * 997:08d}"[:10]
    return variables


def substitute(value: Any, variables: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value)
        if whole and whole.group(1) in variables:
            return variables[whole.group(1)]  # keeps the type of a saved value
        return _PLACEHOLDER.sub(lambda m: str(variables.get(m.group(1), m.group(0))), value)
    if isinstance(value, dict):
        return {k: substitute(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    return value


def pick(body: Any, dotted: str) -> Any:
    node = body
    for part in dotted.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def mismatches(expected: Any, actual: Any, where: str = "body") -> list[str]:
    """Where `actual` differs from the fragment `expected` (objects by subset)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {actual!r}"]
        problems = []
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{where}.{key}: missing")
            else:
                problems.extend(mismatches(value, actual[key], f"{where}.{key}"))
        return problems
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        problems = []
        for index, (e, a) in enumerate(zip(expected, actual, strict=True)):
            problems.extend(mismatches(e, a, f"{where}[{index}]"))
        return problems
    return [] if expected == actual else [f"{where}: expected {expected!r}, got {actual!r}"]
