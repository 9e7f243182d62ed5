"""Error codes go by name: one set, the spec's table, and no number in their place."""

from __future__ import annotations

import ast
from pathlib import Path

from mock_server.errors import Code, ExoBridgeError
from mock_server.spec import Spec

PACKAGE = Path(__file__).resolve().parent.parent / "mock_server"


def test_the_named_codes_are_the_specs_table():
    assert {int(code) for code in Code} == set(Spec().error_codes)


def test_an_error_carries_its_code_by_name():
    assert ExoBridgeError(5, "x").code is Code.BAD_PARAMETERS


def test_no_module_raises_a_code_by_number():
    found = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "ExoBridgeError" and node.args
                    and isinstance(node.args[0], ast.Constant)):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
            if (isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute)
                    and node.left.attr == "code"
                    and any(isinstance(c, ast.Constant) and isinstance(c.value, int)
                            for c in node.comparators)):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert found == []


def test_the_public_api_is_what_the_package_says():
    import mock_server

    assert sorted(mock_server.__all__) == sorted([
        "__version__", "create_app", "MockServer", "Settings", "fake", "fake_many",
        "call_sequence", "check_handler", "Code", "ExoBridgeError",
    ])
    for name in mock_server.__all__:
        assert getattr(mock_server, name) is not None, name
    assert mock_server.fake("deallocation", seed=1) == mock_server.fake("deallocation", seed=1)
    assert mock_server.Code.INVALID_NUMBER == 16


def test_the_domain_speaks_no_http():
    """The domain raises domain errors (`ExoBridgeError`, `CallRefused`); routes give them
    their HTTP status and envelope."""
    found = []
    for path in (PACKAGE / "domain").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for word in ("CallsApiError", "starlette", "httpx"):
            if word in text:
                found.append(f"domain/{path.name}: {word}")
    assert found == []


def test_every_api_route_declares_its_envelope():
    """The error handlers render by the envelope the matched route declares (`answers_in`);
    the path decides only where no route matched."""
    from starlette.routing import Route

    from mock_server.app import create_app
    from mock_server.routes.envelopes import Envelope

    undeclared = []
    for route in create_app().routes:
        if not isinstance(route, Route) or route.path.startswith(("/_mock", "/{version}")):
            continue
        if not isinstance(getattr(route.endpoint, "envelope", None), Envelope):
            undeclared.append(route.path)
    assert undeclared == []
