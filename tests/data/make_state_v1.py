"""Wrote state_v1.db and state_v1.expected.json with release 0.1.0 (commit d488d7e), whose state
file is format 1 (calls pickled). Kept to show how the fixture was made; it runs only against
that release:

    python tests/data/make_state_v1.py tests/data/state_v1.db tests/data/state_v1.expected.json
"""

import json
import sys
from pathlib import Path

from mock_server.callbacks.log import SqliteDeliveryLog  # type: ignore[import-not-found]
from starlette.testclient import TestClient

from mock_server.app import create_app
from mock_server.clock import FrozenClock
from mock_server.settings import Settings
from mock_server.store.calls import SqliteCallStore  # type: ignore[attr-defined]
from mock_server.store.sqlite import SqliteStore  # type: ignore[attr-defined]

AUTH = ("demo_key", "demo_token")


def main(path: Path, expected: Path) -> None:
    path.unlink(missing_ok=True)
    settings = Settings.load()
    settings.tenants["demo"].callback_urls["deallocation"] = "http://127.0.0.1:9/hooks"
    app = create_app(
        settings, store=SqliteStore(path), callback_log=SqliteDeliveryLog(path),
        call_store=SqliteCallStore(path), clock=FrozenClock(1767225600.0), seed=11, tune_gc=False,
    )
    with TestClient(app) as c:
        a = c.post("/v1/tenants/demo/greenpin", auth=AUTH, json={
            "transaction_id": "order-1",
            "a": {"numbers": ["+919811111111"], "vns": ["+916292134464"]},
            "b": {"numbers": ["+919822222222"]}, "deallocation_policy": {"duration": "2d"},
        }).json()
        b = c.post("/v1/tenants/demo/greenpin", auth=AUTH, json={
            "transaction_id": "order-2",
            "a": {"numbers": ["+919833333333"], "vns": ["+916292134465"]},
            "b": {"numbers": ["+919844444444"]},
        }).json()
        c.delete(f"/v1/tenants/demo/greenpin/{b['data']['greenpin_id']}", auth=AUTH)
        c.post("/v1/tenants/demo/greenvn", auth=AUTH, json={
            "connection_id": "conn-1", "aparty_numbers": ["+919855555555"],
            "bparty_numbers": ["+919866666666"], "usage": "twoway", "aparty_pins": [4321],
        })
        c.post("/_mock/calls/incoming", json={
            "vn": "+916292134464", "from": "+919877777777", "digits": a["data"]["a"]["pin"],
        })
        c.post("/v3/accounts/demo/calls", auth=AUTH, json={
            "from": {"contact_uri": "+919811112222"}, "to": {"contact_uri": "+919833334444"},
            "virtual_number": "+916292134464",
            "status_callback": [{"event": "terminal", "url": "http://127.0.0.1:9/status"}],
        })
        c.post("/_mock/clock/advance", json={"seconds": 60})
        state = c.get("/_mock/state").json()["tenants"]
        callbacks = [
            {k: d[k] for k in ("id", "event", "outcome", "url", "payload")}
            for d in c.get("/_mock/callbacks").json()["callbacks"]
        ]
        calls = c.get("/v1/Accounts/demo/Calls", auth=AUTH).json()["Calls"]
    document = {"tenants": state, "callbacks": callbacks, "calls": calls}
    expected.write_text(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
