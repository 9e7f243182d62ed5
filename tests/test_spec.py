"""The spec, its callback schemas and its examples hold together.

No network: the spec, the callback schemas and the examples are read from the work tree, and the
provider's documents from `shared/seeds` beside it when they are there.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = Path(__file__).resolve().parents[1]
SPEC_PATH = ROOT / "openapi" / "exobridge.yaml"
CALLBACKS_DIR = ROOT / "openapi" / "callbacks"
EXAMPLES_DIR = ROOT / "fixtures" / "examples"
CATALOG_PATH = EXAMPLES_DIR / "catalog.yaml"
SEEDS_DIR = ROOT.parent / "shared" / "seeds"

SPEC_URI = SPEC_PATH.as_uri()
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

EXPECTED_OPERATIONS = {
    ("POST", "/v1/tenants/{tenant_id}/greenpin"): "createGreenPin",
    ("GET", "/v1/tenants/{tenant_id}/greenpin"): "listGreenPins",
    ("PUT", "/v1/tenants/{tenant_id}/greenpin"): "bulkUpdateGreenPins",
    ("GET", "/v1/tenants/{tenant_id}/greenpin/{greenpin_id}"): "getGreenPin",
    ("PUT", "/v1/tenants/{tenant_id}/greenpin/{greenpin_id}"): "updateGreenPin",
    ("DELETE", "/v1/tenants/{tenant_id}/greenpin/{greenpin_id}"): "deleteGreenPin",
    ("POST", "/v1/tenants/{tenant_id}/greenvn"): "createGreenVN",
    ("GET", "/v1/tenants/{tenant_id}/greenvn/{greenvn_id}"): "getGreenVN",
    ("DELETE", "/v1/tenants/{tenant_id}/greenvn/{greenvn_id}"): "deleteGreenVN",
    ("POST", "/v3/accounts/{account_sid}/calls"): "createCall",
    ("GET", "/v3/accounts/{account_sid}/calls/{call_sid}"): "getCall",
    ("GET", "/v3/accounts/{account_sid}/calls/{call_sid}/legs"): "getCallLegs",
    ("GET", "/v1/Accounts/{account_sid}/Calls"): "listCalls",
    ("GET", "/v1/Accounts/{account_sid}/Calls/{call_sid}"): "getCallV1",
    ("POST", "/v1/Accounts/{account_sid}/Calls/connect.json"): "connectCallV1",
}

EXPECTED_EVENTS = {
    "call_completed",
    "deallocation",
    "verification_succeeded",
    "verification_failed",
    "click_to_call_status",
    "connect_applet_request",
    "connect_applet_response",
    "voice_message_status",
}

# Appendix 1 of document 000 (repeated in 001): code -> HTTP status. Copied here so that the check
# runs without the documents; `test_appendix_copy_matches_the_document` keeps it honest.
APPENDIX_1 = {
    0: 500,
    1: 404,
    2: 400,
    3: 400,
    4: 452,
    5: 400,
    7: 401,
    8: 403,
    9: 400,
    13: 409,
    14: 409,
    15: 403,
    16: 400,
    17: 413,
    18: 409,
    19: 409,
    20: 404,
    22: 410,
    23: 400,
    50: 422,
}

# Components added for the voice APIs: every property they declare must say what it is.
CALL_COMPONENTS = (
    "CallRecordingSettings",
    "CallFromParty",
    "CallToParty",
    "CallStatusCallback",
    "CallCreateRequest",
    "CallRecording",
    "CallDetails",
    "CallResultSuccess",
    "CallCreateResponse",
    "CallDetailsResponse",
    "CallLeg",
    "CallLegsResult",
    "CallLegsResponse",
    "CallErrorData",
    "CallErrorResponse",
    "V1Call",
    "V1ConnectCallRequest",
    "V1CallResponse",
    "V1CallList",
    "V1RestException",
)


# -- loading ------------------------------------------------------------------------------------


@cache
def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


@cache
def catalog() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(CATALOG_PATH.read_text(encoding="utf-8"))


def example_files() -> list[str]:
    return sorted(
        p.name for p in EXAMPLES_DIR.iterdir() if p.is_file() and p.name != CATALOG_PATH.name
    )


def load_example(name: str) -> Any:
    return json.loads((EXAMPLES_DIR / name).read_text(encoding="utf-8"))


def callback_files() -> list[Path]:
    return sorted(CALLBACKS_DIR.glob("*.schema.json"))


@cache
def registry() -> Registry:
    resources = [(SPEC_URI, Resource.from_contents(spec(), default_specification=DRAFT202012))]
    for path in callback_files():
        contents = json.loads(path.read_text(encoding="utf-8"))
        resources.append((path.as_uri(), Resource.from_contents(contents)))
    return Registry().with_resources(resources)


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def pointer_get(document: Any, pointer: str) -> Any:
    node = document
    for token in pointer.lstrip("/").split("/") if pointer.strip("/") else []:
        token = token.replace("~1", "/").replace("~0", "~")
        node = node[int(token)] if isinstance(node, list) else node[token]
    return node


def follow_local_refs(pointer: str) -> str:
    """The pointer of the object a (chain of) local `$ref` at `pointer` ends on."""
    node = pointer_get(spec(), pointer)
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"non-local reference where a local one is expected: {ref}"
        pointer = ref[1:]
        node = pointer_get(spec(), pointer)
    return pointer


def operations() -> dict[str, tuple[str, str, str]]:
    """operationId -> (METHOD, path, JSON pointer of the operation)."""
    found = {}
    for path, item in spec()["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                pointer = f"/paths/{escape(path)}/{method}"
                found[item[method]["operationId"]] = (method.upper(), path, pointer)
    return found


def schema_pointer(entry: dict[str, Any]) -> str:
    """Where, in the spec, the schema of a catalog entry of an operation is."""
    _, _, op_pointer = operations()[entry["operation"]]
    if entry["part"] == "request":
        body = follow_local_refs(f"{op_pointer}/requestBody")
        return f"{body}/content/application~1json/schema"
    assert entry["part"] == "response", entry
    response = follow_local_refs(f"{op_pointer}/responses/{entry['status']}")
    return f"{response}/content/application~1json/schema"


@cache
def validator_for(target: str) -> Draft202012Validator:
    """A validator of the schema at `target`: a spec pointer or a callback file's URI."""
    ref = target if target.startswith("file:") else f"{SPEC_URI}#{target}"
    return Draft202012Validator({"$ref": ref}, registry=registry())


def target_of(name: str) -> str:
    entry = catalog()[name]
    if "event" in entry:
        return (CALLBACKS_DIR / f"{entry['event']}.schema.json").as_uri()
    return schema_pointer(entry)


def errors_of(target: str, instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator_for(target).iter_errors(instance)
    ]


# -- (a) the spec is valid OpenAPI 3.1 -------------------------------------------------------------


def test_spec_is_valid_openapi_31():
    assert spec()["openapi"].startswith("3.1")
    validate(spec(), base_uri=SPEC_URI)


def _undeclared_path_parameter(broken: dict[str, Any]) -> None:
    del broken["paths"]["/v3/accounts/{account_sid}/calls"]["parameters"]


def _duplicate_operation_id(broken: dict[str, Any]) -> None:
    _, _, pointer = operations()["getCallV1"]
    pointer_get(broken, pointer)["operationId"] = "getCall"


def _schema_of_wrong_type(broken: dict[str, Any]) -> None:
    broken["components"]["schemas"]["CallDetails"]["properties"]["sid"] = {"type": "text"}


@pytest.mark.parametrize(
    "breaking", [_undeclared_path_parameter, _duplicate_operation_id, _schema_of_wrong_type]
)
def test_the_validator_refuses_a_broken_spec(breaking):
    broken = copy.deepcopy(spec())
    breaking(broken)
    with pytest.raises(OpenAPIValidationError):
        validate(broken, base_uri=SPEC_URI)


def iter_refs(node: Any, where: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield where, value
            else:
                yield from iter_refs(value, f"{where}/{escape(str(key))}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from iter_refs(value, f"{where}/{i}")


def test_every_reference_of_the_spec_resolves():
    resolver = registry().resolver(SPEC_URI)
    refs = list(iter_refs(spec()))
    assert refs
    for where, ref in refs:
        if ref.startswith("#"):
            pointer_get(spec(), ref[1:])  # raises KeyError when missing
        else:
            target = (SPEC_PATH.parent / ref).resolve()
            assert target.is_file(), f"{where}: {ref} is not a file"
            resolver.lookup(ref)


def test_components_use_only_local_references():
    # mock_server/spec.py compiles component schemas on their own, without the files beside them.
    for where, ref in iter_refs(spec()["components"], "/components"):
        assert ref.startswith("#/components/"), f"{where}: {ref}"


# -- (b) schemathesis sees exactly the operations of the contract ---------------------------------


def test_schemathesis_enumerates_the_expected_operations():
    schema = schemathesis.openapi.from_path(SPEC_PATH)
    found = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        key = (operation.method.upper(), operation.path)
        assert key not in found, f"{key} listed twice"
        found[key] = operation.definition.raw["operationId"]
    assert found == EXPECTED_OPERATIONS


def test_operation_ids_are_those_the_mock_reads():
    found = {(m, p): op_id for op_id, (m, p, _) in operations().items()}
    assert found == EXPECTED_OPERATIONS


def test_calls_operations_are_described():
    for op_id in ("createCall", "getCall", "getCallLegs", "listCalls", "getCallV1",
                  "connectCallV1"):
        _, _, pointer = operations()[op_id]
        operation = pointer_get(spec(), pointer)
        assert len(operation.get("description", "")) > 40, op_id
        for status, response in operation["responses"].items():
            response = pointer_get(spec(), follow_local_refs(f"{pointer}/responses/{status}"))
            assert response.get("description"), (op_id, status)
            assert "application/json" in response.get("content", {}), (op_id, status)


def test_create_call_describes_state_management_and_busy():
    _, _, pointer = operations()["createCall"]
    operation = pointer_get(spec(), pointer)
    assert "state_management" in operation["description"]
    assert "busy" in operation["description"]
    # A busy user's call is placed and over at once: the documents give no error for it.
    assert "409" not in operation["responses"]


def test_create_call_links_to_the_call_and_its_legs():
    _, _, pointer = operations()["createCall"]
    links = pointer_get(spec(), pointer)["responses"]["200"]["links"]
    targets = {link["operationId"] for link in links.values()}
    assert {"getCall", "getCallLegs"} <= targets
    for link in links.values():
        assert link["operationId"] in operations()
        if link["operationId"] in {"getCall", "getCallLegs", "getCallV1"}:
            assert link["parameters"]["call_sid"] == "$response.body#/response/call_details/sid"
        else:  # the links to the call's parties' allocations, calls and lists carry its account
            assert "$request.path.account_sid" in link["parameters"].values()
    example = load_example("click_to_call.response.json")
    assert pointer_get(example, "/response/call_details/sid")


def test_list_calls_has_the_v1_filters():
    _, _, pointer = operations()["listCalls"]
    params = {p["name"]: p for p in pointer_get(spec(), pointer)["parameters"]}
    assert set(params) == {
        "Sid",
        "DateCreated",
        "To",
        "From",
        "Status",
        "Duration",
        "Price",
        "Direction",
        "PhoneNumber",
        "PageSize",
        "SortBy",
        "Before",
        "After",
    }
    page_size = params["PageSize"]["schema"]
    assert (page_size["default"], page_size["maximum"]) == (50, 100)
    date = Draft202012Validator(params["DateCreated"]["schema"])
    assert date.is_valid("gte:2022-01-01 00:00:00;lte:2022-01-31 23:59:59")
    assert not date.is_valid("2022-01-01")


def iter_properties(schema: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(schema, dict):
        return
    for name, prop in schema.get("properties", {}).items():
        yield f"{where}.{name}", prop
        yield from iter_properties(prop, f"{where}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from iter_properties(schema["items"], f"{where}[]")


@pytest.mark.parametrize("name", CALL_COMPONENTS)
def test_call_component_properties_have_type_and_description(name):
    schema = spec()["components"]["schemas"][name]
    props = list(iter_properties(schema, name))
    assert props, name
    for where, prop in props:
        assert prop.get("description"), f"{where} has no description"
        assert {"type", "$ref", "const", "enum"} & prop.keys(), f"{where} has no type"


# -- (c) every example is catalogued and valid -----------------------------------------------------


def test_catalog_lists_every_example_and_nothing_else():
    assert set(catalog()) == set(example_files())


@pytest.mark.parametrize("name", sorted(yaml.safe_load(CATALOG_PATH.read_text(encoding="utf-8"))))
def test_catalog_entry_is_well_formed(name):
    entry = catalog()[name]
    assert entry.get("source") in ("document", "contract"), name
    if "event" in entry:
        assert set(entry) == {"event", "source"}, name
        assert entry["event"] in EXPECTED_EVENTS
    else:
        assert entry["operation"] in operations(), name
        if entry["part"] == "request":
            assert set(entry) == {"operation", "part", "source"}, name
        else:
            assert entry["part"] == "response", name
            assert set(entry) == {"operation", "part", "status", "source"}, name
            _, _, pointer = operations()[entry["operation"]]
            assert str(entry["status"]) in pointer_get(spec(), pointer)["responses"], name


@pytest.mark.parametrize("name", example_files())
def test_example_is_valid_against_its_schema(name):
    assert errors_of(target_of(name), load_example(name)) == []


def iter_inline_examples(node: Any, where: str = "") -> Iterator[tuple[str, str, Any]]:
    """Every example of the spec that names its fixture (`x-fixture`), with its inline value."""
    if isinstance(node, dict):
        if "x-fixture" in node:
            yield where, node["x-fixture"], node.get("value")
        for key, value in node.items():
            yield from iter_inline_examples(value, f"{where}/{escape(str(key))}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from iter_inline_examples(value, f"{where}/{i}")


def test_the_spec_holds_every_example_inline_and_each_fixture_is_the_same_example():
    examples = list(iter_inline_examples(spec()))
    assert "externalValue" not in json.dumps(spec())
    # One source: each fixture file is the spec's inline example, value for value.
    for where, name, value in examples:
        assert (EXAMPLES_DIR / name).is_file(), where
        assert load_example(name) == value, f"{where}: the spec and {name} differ"
    assert {name for _, name, _ in examples} == set(catalog())
    by_pointer = {pointer: op_id for op_id, (_, _, pointer) in operations().items()}
    for where, name, _ in examples:
        entry = catalog()[name]
        if where.startswith("/webhooks/"):
            assert where.split("/")[2] == entry["event"], where
            continue
        op_pointer = next(p for p in by_pointer if where.startswith(p + "/"))
        assert entry["operation"] == by_pointer[op_pointer], where
        rest = where[len(op_pointer) :]
        if rest.startswith("/requestBody/"):
            assert entry["part"] == "request", where
        else:
            status = re.match(r"/responses/(\d{3})/", rest)
            assert status, where
            assert (entry["part"], str(entry["status"])) == ("response", status.group(1)), where


def inline_example_values(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        examples = node.get("examples")
        # An OpenAPI examples map (a JSON Schema `examples` is a list, not counted here).
        if isinstance(examples, dict):
            yield from (e["value"] for e in examples.values() if "value" in e)
        for value in node.values():
            yield from inline_example_values(value)
    elif isinstance(node, list):
        for value in node:
            yield from inline_example_values(value)


def test_every_operation_has_an_inline_example():
    for op_id, (_, _, pointer) in operations().items():
        assert list(inline_example_values(pointer_get(spec(), pointer))), op_id


# -- (d) broken variants of every example are refused ----------------------------------------------

DROP = object()
WRONG_VALUES = (12345, "not-the-right-type", True, [], {"unexpected": 1}, None)


def json_type_ok(value: Any, types: set[str]) -> bool:
    if value is None:
        return "null" in types
    if isinstance(value, bool):
        return "boolean" in types
    if isinstance(value, int):
        return "integer" in types or "number" in types
    if isinstance(value, float):
        return "number" in types
    if isinstance(value, str):
        return "string" in types
    if isinstance(value, list):
        return "array" in types
    return "object" in types


def facets(schema: Any, resolver: Any) -> Iterator[tuple[dict[str, Any], Any]]:
    """The subschemas that all apply unconditionally to an instance of `schema`."""
    if not isinstance(schema, dict):
        return
    yield schema, resolver
    if "$ref" in schema:
        resolved = resolver.lookup(schema["$ref"])
        yield from facets(resolved.contents, resolved.resolver)
    for member in schema.get("allOf", []):
        yield from facets(member, resolver)


def mutations(
    schemas: list[tuple[Any, Any]], instance: Any, path: tuple[Any, ...] = ()
) -> Iterator[tuple[str, tuple[Any, ...], Any]]:
    """(kind, path, new value or DROP) that the schemas are bound to refuse."""
    all_facets = [f for schema, resolver in schemas for f in facets(schema, resolver)]
    type_sets = [
        {f["type"]} if isinstance(f["type"], str) else set(f["type"])
        for f, _ in all_facets
        if "type" in f
    ]
    if type_sets and path:
        allowed = set.intersection(*type_sets)
        wrong = next((v for v in WRONG_VALUES if not json_type_ok(v, allowed)), DROP)
        if wrong is not DROP:
            yield "wrong-type", path, wrong
    for f, _ in all_facets:
        if "enum" in f and path:
            listed = [v for v in f["enum"] if v is not None]
            if listed and all(isinstance(v, int) and not isinstance(v, bool) for v in listed):
                yield "bad-enum", path, max(listed) + 1000
            else:
                yield "bad-enum", path, "not-a-listed-value"
            break
        if "const" in f and path:
            const = f["const"]
            if isinstance(const, bool):
                bad = not const
            elif isinstance(const, int):
                bad = const + 1
            elif isinstance(const, str):
                bad = const + "-not-it"
            else:
                continue
            yield "bad-const", path, bad
            break
    if isinstance(instance, dict):
        required = {key for f, _ in all_facets for key in f.get("required", [])}
        for key in sorted(required & instance.keys()):
            yield "drop-required", (*path, key), DROP
        for key in sorted(instance):
            subschemas = [
                (f["properties"][key], r)
                for f, r in all_facets
                if isinstance(f.get("properties"), dict) and key in f["properties"]
            ]
            if subschemas:
                yield from mutations(subschemas, instance[key], (*path, key))
    elif isinstance(instance, list) and instance:
        subschemas = [(f["items"], r) for f, r in all_facets if isinstance(f.get("items"), dict)]
        if subschemas:
            yield from mutations(subschemas, instance[0], (*path, 0))


def apply(instance: Any, path: tuple[Any, ...], value: Any) -> Any:
    broken = copy.deepcopy(instance)
    parent = broken
    for step in path[:-1]:
        parent = parent[step]
    if value is DROP:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return broken


def spread(items: list[Any], limit: int) -> list[Any]:
    if len(items) <= limit:
        return items
    step = (len(items) - 1) / (limit - 1)
    return [items[round(i * step)] for i in range(limit)]


def broken_variants() -> list[Any]:
    params = []
    for name in example_files():
        try:
            target = target_of(name)
        except (KeyError, TypeError):
            continue  # an uncatalogued or mislabelled example: the catalog tests report it
        instance = load_example(name)
        resolver = registry().resolver(SPEC_URI)
        found = list(mutations([({"$ref": _ref(target)}, resolver)], instance))
        by_kind: dict[str, list[Any]] = {}
        for kind, path, value in found:
            by_kind.setdefault(kind, []).append((path, value))
        for kind, items in sorted(by_kind.items()):
            for path, value in spread(items, 4):
                label = "/".join(map(str, path))
                params.append(pytest.param(name, path, value, id=f"{name}:{kind}:{label}"))
    return params


def _ref(target: str) -> str:
    return target if target.startswith("file:") else f"{SPEC_URI}#{target}"


BROKEN_VARIANTS = broken_variants()


def test_every_example_gets_broken_variants():
    names = {p.values[0] for p in BROKEN_VARIANTS}
    assert names == set(example_files())
    for name in example_files():
        kinds = {p.id.split(":")[1] for p in BROKEN_VARIANTS if p.values[0] == name}
        assert "wrong-type" in kinds, name
        if isinstance(load_example(name), dict):
            assert "drop-required" in kinds, name


@pytest.mark.parametrize(("name", "path", "value"), BROKEN_VARIANTS)
def test_broken_variant_is_refused(name, path, value):
    broken = apply(load_example(name), path, value)
    assert errors_of(target_of(name), broken), f"{name} accepted with {path} -> {value!r}"


def _set(instance: Any, pointer: str, value: Any) -> Any:
    return apply(instance, tuple(int(t) if t.isdigit() else t for t in pointer.split("/")), value)


# Rules the generic variants above cannot find (patterns, cross-member rules, closed objects).
HAND_BROKEN = [
    ("click_to_call.request.json", "virtual_number", DROP),
    ("click_to_call.request.json", "to/contact_uri", "12345"),
    ("click_to_call.request.json", "from/state_managment", True),
    ("click_to_call.request.json", "recording/channels", "stereo"),
    ("click_to_call.request.json", "max_time_limit", 14401),
    ("click_to_call.request.json", "status_callback/0/event", "ringing"),
    ("click_to_call.request.json", "status_callback/0/url", "ftp://example.com/x"),
    (
        "click_to_call.request.json",
        "status_callback",
        [
            {"event": "terminal", "url": "https://a.example/1"},
            {"event": "terminal", "url": "https://a.example/2"},
        ],
    ),
    ("click_to_call.response.json", "response/call_details/status", "completed"),
    ("click_to_call.response.json", "response/call_details/legs", "/v3/calls/legs"),
    ("click_to_call.response.json", "response/call_details/extra", 1),
    ("call_details.response.json", "response/call_details/end_time", None),
    ("click_to_call.error_400.json", "response/status", "success"),
    ("call_legs.response.json", "response/legs/0/contact_uri", "not a number"),
    ("calls_v1_list.response.json", "Calls/0/Direction", "outbound"),
    ("calls_v1_list.response.json", "Metadata/PageSize", 101),
    ("call_v1_get.response.json", "Call/DateCreated", "2022-11-23T11:44:39+05:30"),
    ("call_v1_get.error_404.json", "RestException/Status", 200),
    ("click_to_call_status.callback.json", "event_details/event_type", "answered"),
    ("click_to_call_status.callback.json", "call_details/sid", "short"),
    ("connect_applet_request.callback.json", "Direction", "outbound"),
    ("connect_applet_request.callback.json", "DialCallDuration", 0),
    ("connect_applet_request.callback.json", "Created", "2022-11-10 12:18:36"),
    ("connect_applet_request.callback.json", "CustomParam", 5),
    ("connect_applet_response.callback.json", "destination", []),
    ("connect_applet_response.callback.json", "destination/0/contact_uri", "gaurav"),
    ("connect_applet_response.callback.json", "recording/channels", "stereo"),
    ("connect_applet_response.callback.json", "music_on_hold", {"type": "url"}),
    ("connect_applet_response.callback.json", "dial_passthru_event_url", "http://x.example"),
    ("greenpin_create.request.json", "a/numbers/0", "12"),
    ("greenvn_create.error_409.json", "0/code", 6),
    ("deallocation.callback.json", "greenpin_id", "a62b5590"),
    ("voice_message_status.callback.json", "data/0/error_description", "NO_ANSWER"),
]


@pytest.mark.parametrize(
    ("name", "pointer", "value"), HAND_BROKEN, ids=[f"{n}:{p}" for n, p, _ in HAND_BROKEN]
)
def test_hand_broken_variant_is_refused(name, pointer, value):
    broken = _set(load_example(name), pointer, value)
    assert errors_of(target_of(name), broken), f"{name} accepted with {pointer} -> {value!r}"


def test_answered_status_callback_is_an_active_call():
    answered = load_example("click_to_call_status.callback.json")
    answered["event_details"]["event_type"] = "answered"
    details = answered["call_details"]
    details.update(
        state="active",
        status=None,
        end_time=None,
        total_duration=None,
        total_talk_time=None,
        recordings=None,
    )
    target = target_of("click_to_call_status.callback.json")
    assert errors_of(target, answered) == []
    details["status"] = "completed"
    assert errors_of(target, answered)


def test_status_callback_call_details_follow_the_spec():
    callback = json.loads((CALLBACKS_DIR / "click_to_call_status.schema.json").read_text())
    in_callback = callback["$defs"]["call_details"]
    in_spec = spec()["components"]["schemas"]["CallDetails"]
    assert set(in_callback["properties"]) == set(in_spec["properties"])
    assert set(in_callback["required"]) == set(in_spec["required"])
    details = load_example("call_details.response.json")["response"]["call_details"]
    status = load_example("click_to_call_status.callback.json")["call_details"]
    assert details == status


# -- (e) Appendix 1 --------------------------------------------------------------------------------


def parse_appendix(text: str) -> dict[int, int]:
    tail = text.split("Appendix 1", 1)[1]
    rows = re.findall(r"^(\d{1,3}) (.+?) (\d{3})\s*$", tail, flags=re.MULTILINE)
    return {int(code): int(status) for code, _, status in rows}


def test_appendix_copy_matches_the_document():
    seeds = sorted(SEEDS_DIR.glob("000_*.txt"))
    if not seeds:
        pytest.skip("the provider's documents are not beside the repository (shared/seeds), "
                    "where the project's own checkout keeps them")
    assert parse_appendix(seeds[0].read_text(encoding="utf-8")) == APPENDIX_1


def test_error_code_table_is_appendix_1():
    table = spec()["components"]["schemas"]["ErrorCode"]["oneOf"]
    found = {entry["const"]: entry["x-http-status"] for entry in table}
    assert found == APPENDIX_1
    for entry in table:
        assert entry["title"], entry


# -- (f) callback schemas --------------------------------------------------------------------------


def test_webhooks_name_every_event_once():
    assert set(spec()["webhooks"]) == EXPECTED_EVENTS
    assert {p.name.removesuffix(".schema.json") for p in callback_files()} == EXPECTED_EVENTS


@pytest.mark.parametrize("event", sorted(EXPECTED_EVENTS))
def test_webhook_refers_to_its_callback_schema(event):
    entry = spec()["webhooks"][event]
    assert set(entry) == {"post"}
    schema = entry["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": f"./callbacks/{event}.schema.json"}
    assert (SPEC_PATH.parent / schema["$ref"]).resolve().is_file()


def test_connect_applet_webhooks_say_how_they_travel():
    def text(event: str) -> str:
        return " ".join(spec()["webhooks"][event]["post"]["description"].split())

    request = text("connect_applet_request")
    assert "GET" in request
    assert "query parameters" in request
    response = text("connect_applet_response")
    assert "JSON" in response
    assert "answer" in response


def test_no_callback_schema_is_copied_into_the_spec():
    titles = {json.loads(p.read_text())["title"] for p in callback_files()}
    for name, schema in spec()["components"]["schemas"].items():
        assert schema.get("title") not in titles, name


@pytest.mark.parametrize("path", callback_files(), ids=lambda p: p.name)
def test_callback_schema_is_valid_draft_2020_12(path):
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"]
    assert schema["description"]
    assert schema["type"] == "object"
    assert "additionalProperties" in schema
    Draft202012Validator.check_schema(schema)


def test_absent_members_take_the_specs_defaults():
    """Code reads what the spec says an absent member means, instead of restating it."""
    from mock_server.spec import ControlSpec, Spec

    created = Spec().body_check("createGreenPin").with_defaults({"transaction_id": "t"})
    assert created["usage"] == "twoway"
    given = Spec().body_check("createGreenPin").with_defaults({"transaction_id": "t",
                                                               "usage": "oneway"})
    assert given["usage"] == "oneway"
    assert Spec().body_check("updateGreenPin").with_defaults({}) == {}  # an update keeps
    call = ControlSpec().with_defaults("simulateIncomingCall", {"vn": "v", "from": "f"})
    assert (call["tenant_id"], call["answered"], call["busy"], call["talk_seconds"]) \
        == ("demo", True, False, 10)
