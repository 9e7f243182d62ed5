"""The control plane answers as `openapi/mock-control.yaml` says."""

from __future__ import annotations

from openapi_spec_validator import validate

from .helpers import GP, allocation, check_control_answer, create


def test_control_spec_is_valid_openapi(control_spec):
    validate(control_spec)


def test_every_control_route_is_documented(client, control_spec):
    app_paths = {
        route.path for route in client.app.routes if route.path.startswith("/_mock/")
    }
    assert app_paths == set(control_spec["paths"])


def test_answers_match_the_control_spec(client, control_spec):
    created = create(client, allocation(deallocation_policy={"duration": "10s"}))
    client.put("/_mock/tenants/demo/callback-urls", json={"deallocation": None})
    calls = [
        ("GET", "/_mock/clock", client.get("/_mock/clock")),
        ("POST", "/_mock/clock/advance", client.post("/_mock/clock/advance", json={"seconds": 10})),
        ("POST", "/_mock/clock/advance", client.post("/_mock/clock/advance", json={})),
        ("GET", "/_mock/state", client.get("/_mock/state")),
        ("GET", "/_mock/state", client.get("/_mock/state", params={"tenant_id": "nobody"})),
        ("GET", "/_mock/callbacks", client.get("/_mock/callbacks")),
        ("GET", "/_mock/callbacks", client.get("/_mock/callbacks", params={"outcome": "odd"})),
        ("PUT", "/_mock/tenants/{tenant_id}/callback-urls",
         client.put("/_mock/tenants/demo/callback-urls", json={"*": "http://127.0.0.1:9/x"})),
        ("POST", "/_mock/faults", client.post("/_mock/faults", json={"internal_errors": 0})),
        ("POST", "/_mock/faults", client.post("/_mock/faults", json={"internal_errors": -1})),
        ("POST", "/_mock/reset", client.post("/_mock/reset", json={"tenant_id": "demo"})),
        ("POST", "/_mock/reset", client.post("/_mock/reset")),
    ]
    delivery = client.get("/_mock/callbacks").json()["callbacks"]
    assert created
    assert delivery == []  # the reset forgot the log
    for method, path, response in calls:
        check_control_answer(control_spec, method, path, response)
    statuses = [r.status_code for _, _, r in calls]
    assert statuses == [200, 200, 400, 200, 404, 200, 400, 200, 200, 400, 200, 200]
    assert client.get(GP, auth=("demo_key", "demo_token")).json()["metadata"]["total"] == 0
