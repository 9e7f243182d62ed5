"""The contract as the suites read it: the spec's operations and their response schemas.

This module speaks only of `openapi/` and `fixtures/`; it never imports the mock, so that the
suites built on it judge any server alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry
from referencing.jsonschema import DRAFT202012

_HERE = Path(__file__).resolve().parent


def _find(name: str, inside: Path) -> Path:
    # An installed wheel carries the directory inside a package; a checkout has it at the top.
    for candidate in (inside / name, _HERE.parent / name, _HERE / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"cannot find the {name}/ directory")


OPENAPI_DIR = _find("openapi", _HERE.parent / "mock_server")
FIXTURES_DIR = _find("fixtures", _HERE)
SPEC_PATH = OPENAPI_DIR / "exobridge.yaml"
SPEC_URI = "urn:exobridge:spec"


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str
    definition: dict[str, Any]


class Contract:
    def __init__(self, path: Path = SPEC_PATH) -> None:
        self.path = path
        self.document: dict[str, Any] = yaml.load(
            path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        )

    @cached_property
    def registry(self) -> Registry:
        """The spec and every callback schema, so that `$ref`s between them resolve."""
        resources = [(SPEC_URI, DRAFT202012.create_resource(self.document))]
        for schema_path in sorted((self.path.parent / "callbacks").glob("*.schema.json")):
            schema = json.loads(schema_path.read_text(encoding="utf-8"))
            resource = DRAFT202012.create_resource(schema)
            resources.append((f"urn:exobridge:callbacks/{schema_path.name}", resource))
            resources.append((f"{SPEC_URI}/callbacks/{schema_path.name}", resource))
        return Registry().with_resources(resources)

    @cached_property
    def operations(self) -> dict[str, Operation]:
        found = {}
        for path, item in self.document["paths"].items():
            for method in ("get", "put", "post", "delete", "patch"):
                if method in item:
                    op = item[method]
                    found[op["operationId"]] = Operation(
                        op["operationId"], method.upper(), path, op
                    )
        return found

    @cached_property
    def error_statuses(self) -> dict[int, int]:
        table = self.document["components"]["schemas"]["ErrorCode"]["oneOf"]
        return {entry["const"]: entry["x-http-status"] for entry in table}

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node and node["$ref"].startswith("#/"):
            target: Any = self.document
            for part in node["$ref"][2:].split("/"):
                target = target[part]
            node = target
        return node

    def validator(self, schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
        """A validator of a schema taken from the spec, its references resolved in the spec."""
        return jsonschema.Draft202012Validator(self._inline(schema), registry=self.registry)

    def response_schema(self, operation_id: str, status: int) -> dict[str, Any]:
        responses = self.operations[operation_id].definition["responses"]
        response = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX")
        if response is None:
            raise KeyError(f"{operation_id} documents no {status} response")
        schema: dict[str, Any] = self._resolve(response)["content"]["application/json"]["schema"]
        return schema

    def request_schema(self, operation_id: str) -> dict[str, Any]:
        body = self.operations[operation_id].definition["requestBody"]
        schema: dict[str, Any] = body["content"]["application/json"]["schema"]
        return schema

    def response_errors(self, operation_id: str, status: int, body: Any) -> list[str]:
        """Why `body` is not a documented `status` answer of the operation (empty if it is)."""
        try:
            schema = self.response_schema(operation_id, status)
        except KeyError as exc:
            return [str(exc)]
        validator = self.validator(schema)
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}"
            for e in validator.iter_errors(body)
        ]

    def _inline(self, schema: dict[str, Any]) -> dict[str, Any]:
        """A schema whose local `#/...` references point into the spec document."""

        def rewrite(node: Any) -> Any:
            if isinstance(node, dict):
                return {
                    k: (
                        SPEC_URI + v
                        if k == "$ref" and isinstance(v, str) and v.startswith("#/")
                        else rewrite(v)
                    )
                    for k, v in node.items()
                }
            if isinstance(node, list):
                return [rewrite(v) for v in node]
            return node

        result: dict[str, Any] = rewrite(schema)
        return result

    def for_generation(self) -> dict[str, Any]:
        """The spec as test generators need it: documented examples inline (`externalValue`
        becomes `value`, read from `fixtures/examples/`), no webhooks (not operations), and
        arrays read per item (`x-per-item-results`) holding any objects."""
        import copy

        document = copy.deepcopy(self.document)
        document.pop("webhooks", None)

        def inline(node: Any) -> None:
            if isinstance(node, dict):
                external = node.get("externalValue")
                if isinstance(external, str) and not external.startswith(("http:", "https:")):
                    path = (self.path.parent / external).resolve()
                    if not path.is_file():
                        path = FIXTURES_DIR / "examples" / Path(external).name
                    node["value"] = json.loads(path.read_text(encoding="utf-8"))
                    del node["externalValue"]
                for value in node.values():
                    inline(value)
            elif isinstance(node, list):
                for value in node:
                    inline(value)

        inline(document)
        # The bulk reading: an invalid item is a per-item failure in a 207, not a refusal of the
        # request, so generated "invalid" requests are those whose body breaks more than items.
        for schema in document["components"]["schemas"].values():
            for prop in schema.get("properties", {}).values():
                if isinstance(prop, dict) and prop.get("x-per-item-results"):
                    prop["items"] = {"type": "object"}
        return document

    def callback_schema(self, event: str) -> dict[str, Any]:
        path = self.path.parent / "callbacks" / f"{event}.schema.json"
        schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return schema

    def callback_errors(self, event: str, payload: Any) -> list[str]:
        validator = jsonschema.Draft202012Validator(self.callback_schema(event))
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}"
            for e in validator.iter_errors(payload)
        ]
