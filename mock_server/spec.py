"""The provider's spec, loaded once: its error-code table, its operations and their validators.

The mock keeps no second copy of the rules the spec states. Request bodies and queries are
validated with the schemas of `openapi/exobridge.yaml`, compiled once; the ExoBridge code of a
violation comes from the `x-error-code` of the schema that was broken (code 3 for a missing
required member, code 5 otherwise).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import jsonschema_rs
import yaml

from .errors import Code, ExoBridgeError
from .spec_defaults import defaults_plan, with_defaults

_HERE = Path(__file__).resolve().parent
# An installed wheel carries the spec inside the package; a source checkout has it at the top.
OPENAPI_DIR = next(p for p in (_HERE / "openapi", _HERE.parent / "openapi") if p.is_dir())

MISSING_MEMBER_CODE = Code.MANDATORY_PARAMETER_MISSING
BAD_PARAMETER_CODE = Code.BAD_PARAMETERS
# When a request breaks several rules, the code reported is the first of these that applies:
# presence before validity, the specific codes before the generic one.
CODE_PRIORITY = (
    Code.MANDATORY_PARAMETER_MISSING,
    Code.INVALID_NUMBER,
    Code.UNSUPPORTED_REGION,
    Code.INVALID_DATE_RANGE,
    Code.UNSUPPORTED_SEARCH_FILTER,
    Code.BAD_PARAMETERS,
)
# Violation messages quote the request; a hostile one must not make the answer huge.
MESSAGE_LIMIT = 200


# Bodies with more values than this are answered with the first broken rule found, not the
# most specific of all of them.
ALL_VIOLATIONS_UP_TO = 2_000


def _more_values_than(instance: Any, limit: int) -> bool:
    """Whether the JSON value holds more than `limit` values (stops counting there)."""
    pending = [instance]
    seen = 0
    while pending:
        node = pending.pop()
        seen += 1
        if seen > limit:
            return True
        if isinstance(node, dict):
            pending.extend(node.values())
        elif isinstance(node, list):
            if seen + len(node) > limit:
                return True
            pending.extend(node)
    return False


# libyaml's parser when PyYAML has it (its wheels do): the spec parses in a tenth of the time,
# which every start of the mock and of the contract suite pays.
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return yaml.load(f, Loader=_SAFE_LOADER)


@dataclass(frozen=True)
class ErrorCodeInfo:
    code: int
    http_status: int
    description: str


@dataclass(frozen=True)
class Violation:
    code: Code
    location: str
    message: str

    def detail(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


def _location(path: Iterator[str | int] | list[str | int], root: str) -> str:
    text = root
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class SchemaCheck:
    """A compiled schema that says which ExoBridge code a violation is worth."""

    def __init__(self, root: dict[str, Any], pointer: str, location_root: str = "") -> None:
        self._root = root
        self._validator = jsonschema_rs.Draft202012Validator(
            {**root, "$ref": pointer}, validate_formats=False
        )
        self._location_root = location_root

    def is_valid(self, instance: Any) -> bool:
        return self._validator.is_valid(instance)

    def violations(self, instance: Any) -> list[Violation]:
        found = []
        for error in self._validator.iter_errors(instance):
            code, description = self._rule_for(list(error.schema_path))
            message = description or error.message
            if len(message) > MESSAGE_LIMIT:
                message = message[: MESSAGE_LIMIT - 3] + "..."
            found.append(
                Violation(
                    code=code,
                    location=_location(list(error.instance_path), self._location_root),
                    message=message,
                )
            )
        return found

    def check(self, instance: Any) -> None:
        """Raises the ExoBridgeError a request with this part would get."""
        if self._validator.is_valid(instance):
            return
        if _more_values_than(instance, ALL_VIOLATIONS_UP_TO):
            # Collecting every violation of a huge body would hold the event loop for seconds
            # (half a million wrong items took 9 s): the first broken rule found decides.
            chosen = self._first_violation(instance)
        else:
            violations = self.violations(instance)
            chosen = min(violations, key=lambda v: CODE_PRIORITY.index(v.code))
        raise ExoBridgeError(chosen.code, chosen.detail())

    def _first_violation(self, instance: Any) -> Violation:
        try:
            self._validator.validate(instance)
        except jsonschema_rs.ValidationError as error:
            code, description = self._rule_for(list(error.schema_path))
            message = description or error.message
            if len(message) > MESSAGE_LIMIT:
                message = message[: MESSAGE_LIMIT - 3] + "..."
            location = _location(list(error.instance_path), self._location_root)
            return Violation(code=code, location=location, message=message)
        raise AssertionError("an invalid instance passed validation")

    def _rule_for(self, schema_path: list[str | int]) -> tuple[Code, str | None]:
        """The code of a broken keyword, and the rule's own wording when the spec gives one.

        The innermost schema on the way to the keyword that names a code decides it; a
        composite rule (`anyOf`, `not`) is described by its schema's `description`.
        """
        keyword = schema_path[-1] if schema_path else ""
        node: Any = self._root
        code = None
        for part in schema_path[:-1]:
            node = node[part]
            if isinstance(node, dict) and "x-error-code" in node:
                code = Code(node["x-error-code"])
        description = None
        if keyword in ("anyOf", "not", "oneOf") and isinstance(node, dict):
            description = node.get("description")
        if code is None:
            code = MISSING_MEMBER_CODE if keyword == "required" else BAD_PARAMETER_CODE
        return code, description


@dataclass
class Operation:
    operation_id: str
    method: str
    path: str
    definition: dict[str, Any]
    parameters: list[dict[str, Any]]


class Spec:
    """`openapi/exobridge.yaml` and the callback schemas beside it."""

    def __init__(self, directory: Path = OPENAPI_DIR) -> None:
        self.directory = directory
        self.document: dict[str, Any] = load_yaml(directory / "exobridge.yaml")
        # Validators see the components under the same pointers as the spec does.
        self._schema_root = {"components": self.document["components"]}

    # -- the error code table ---------------------------------------------------------------

    @cached_property
    def error_codes(self) -> dict[int, ErrorCodeInfo]:
        table = self.document["components"]["schemas"]["ErrorCode"]["oneOf"]
        return {
            entry["const"]: ErrorCodeInfo(entry["const"], entry["x-http-status"], entry["title"])
            for entry in table
        }

    def http_status(self, code: int) -> int:
        return self.error_codes[code].http_status

    # -- operations --------------------------------------------------------------------------

    @cached_property
    def operations(self) -> dict[str, Operation]:
        found = {}
        for path, item in self.document["paths"].items():
            shared = item.get("parameters", [])
            for method in ("get", "put", "post", "delete", "patch"):
                if method in item:
                    op = item[method]
                    params = [self._resolve(p) for p in [*shared, *op.get("parameters", [])]]
                    found[op["operationId"]] = Operation(
                        op["operationId"], method.upper(), path, op, params
                    )
        return found

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = self.pointer(node["$ref"])
        return node

    def pointer(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            raise ValueError(f"only local references are resolved here: {ref}")
        node: Any = self.document
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def body_check(self, operation_id: str) -> BodyCheck:
        op = self.operations[operation_id].definition
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        return BodyCheck(self, schema["$ref"])

    def query_check(self, operation_id: str) -> QueryCheck:
        return QueryCheck(self, self.operations[operation_id])

    def component_check(self, name: str, location_root: str = "") -> SchemaCheck:
        return SchemaCheck(self._schema_root, f"#/components/schemas/{name}", location_root)

    # -- callbacks ----------------------------------------------------------------------------

    @cached_property
    def callback_schemas(self) -> dict[str, dict[str, Any]]:
        return {
            path.name.removesuffix(".schema.json"): json.loads(path.read_text(encoding="utf-8"))
            for path in sorted((self.directory / "callbacks").glob("*.schema.json"))
        }


class BodyCheck:
    """A request body's schema; arrays marked `x-per-item-results` have each item checked on
    its own (their items' schema), the body as a whole needing only objects there."""

    def __init__(self, spec: Spec, ref: str) -> None:
        self._defaults = defaults_plan(spec.document, spec.pointer(ref))
        schema = copy.deepcopy(spec.pointer(ref))
        self.item_checks: dict[str, SchemaCheck] = {}
        for name, prop in schema.get("properties", {}).items():
            if prop.get("x-per-item-results"):
                self.item_checks[name] = SchemaCheck(spec._schema_root, prop["items"]["$ref"])
                prop["items"] = {"type": "object"}
        root = {"components": spec.document["components"], "$defs": {"body": schema}}
        self.whole = SchemaCheck(root, "#/$defs/body")

    def check(self, body: Any) -> None:
        self.whole.check(body)

    def with_defaults(self, body: Any) -> Any:
        return with_defaults(self._defaults, body)


class QueryCheck:
    """An operation's query parameters as one object, so unknown ones can be refused."""

    def __init__(self, spec: Spec, operation: Operation) -> None:
        params = [p for p in operation.parameters if p["in"] == "query"]
        self._integers = {
            p["name"] for p in params if p.get("schema", {}).get("type") == "integer"
        }
        self._booleans = {
            p["name"] for p in params if p.get("schema", {}).get("type") == "boolean"
        }
        # What an absent parameter means, as the spec's `default`s say.
        self._defaults = {
            p["name"]: p["schema"]["default"] for p in params if "default" in p.get("schema", {})
        }
        unknown_code = operation.definition.get("x-unknown-query-parameter-code")
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {p["name"]: p.get("schema", {}) for p in params},
        }
        if unknown_code is not None:
            schema["additionalProperties"] = {
                "not": True,
                "x-error-code": unknown_code,
                "description": "not a supported parameter",
            }
        root = {"components": spec.document["components"], "$defs": {"query": schema}}
        self._check = SchemaCheck(root, "#/$defs/query", location_root="query")

    def parse(self, query: Mapping[str, str]) -> dict[str, Any]:
        """The query as typed values, with the spec's defaults for absent parameters; raises
        the ExoBridgeError of the first broken rule."""
        values: dict[str, Any] = {}
        for name, raw in query.items():
            value: Any = raw
            magnitude = raw.lstrip("-")
            if (
                name in self._integers
                and magnitude.isascii()
                and magnitude.isdigit()
                and len(raw) < 19
            ):
                value = int(raw)
            elif name in self._booleans and raw in ("true", "false"):
                value = raw == "true"
            values[name] = value
        self._check.check(values)
        return {**self._defaults, **values}


class ControlSpec:
    """`openapi/mock-control.yaml`: the control plane's request bodies, checked as it states."""

    def __init__(self, directory: Path = OPENAPI_DIR) -> None:
        self.document: dict[str, Any] = load_yaml(directory / "mock-control.yaml")
        self._pointers = {
            # A JSON pointer in a URI fragment: `/` escaped as `~1`, braces percent-encoded.
            op["operationId"]: f"#/paths/{quote(path.replace('/', '~1'), safe='~')}/{method}/"
            "requestBody/"
            "content/application~1json/schema"
            for path, item in self.document["paths"].items()
            for method, op in item.items()
            if isinstance(op, dict) and "requestBody" in op
        }
        self._checks: dict[str, SchemaCheck] = {}

    def with_defaults(self, operation_id: str, body: Any) -> Any:
        """The body with the defaults `mock-control.yaml` states for what it leaves out."""
        return with_defaults(defaults_plan(self.document, self._schema(operation_id)), body)

    def _schema(self, operation_id: str) -> Any:
        node: Any = self.document
        for part in self._pointers[operation_id][2:].split("/"):
            node = node[unquote(part).replace("~1", "/").replace("~0", "~")]
        return node

    def violation(self, operation_id: str, body: Any) -> str | None:
        """What is wrong with a body of this operation, or None when it is as documented."""
        check = self._checks.get(operation_id)
        if check is None:
            check = SchemaCheck(self.document, self._pointers[operation_id])
            self._checks[operation_id] = check
        if check.is_valid(body):
            return None
        return check.violations(body)[0].detail()
