"""GreenPin allocation semantics a user of the real service relies on."""

from __future__ import annotations

from .helpers import GP, OTHER, allocation, create, example


def test_pin_exhaustion_with_pin_length_1(client, contract):
    pins = []
    for i in range(10):
        body = allocation(f"t{i}", a={"numbers": [f"98765100{i:02d}"], "vns": ["6292134471"],
                                      "pin_length": 1},
                          b={"numbers": [f"98765200{i:02d}"]})
        pins.append(create(client, body)["a"]["pin"])
    assert sorted(pins) == [str(d) for d in range(10)]
    eleventh = allocation("t10", a={"numbers": ["9876510010"], "vns": ["6292134471"],
                                    "pin_length": 1}, b={"numbers": ["9876520010"]})
    response = client.post(GP, json=eleventh)
    assert (response.status_code, response.json()["code"]) == (452, 4)
    assert contract.response_errors("createGreenPin", 452, response.json()) == []

    # Deleting one frees exactly that PIN: the next allocation gets it, the one after fails.
    first = client.get(GP, params={"transaction_id": "t3"}).json()["data"][0]
    client.delete(GP + "/" + first["greenpin_id"])
    again = client.post(GP, json=eleventh)
    assert again.status_code == 200
    assert again.json()["data"]["a"]["pin"] == first["a"]["pin"]
    last = allocation("t11", a={"numbers": ["9876510011"], "vns": ["6292134471"], "pin_length": 1},
                      b={"numbers": ["9876520011"]})
    assert client.post(GP, json=last).status_code == 452


def test_pins_are_unique_per_vn_not_globally(client):
    a = create(client, allocation("t1", a={"numbers": ["9876500001"], "vns": ["6292134464"],
                                           "pin": "55"}))
    b = create(client, allocation("t2", a={"numbers": ["9876500003"], "vns": ["6292134465"],
                                           "pin": "55"}, b={"numbers": ["9876500004"]}))
    assert a["a"]["pin"] == b["a"]["pin"] == "55"


def test_documented_create_example_as_written(client, contract):
    body = example("greenpin_create.request.json")
    response = client.post(GP, json=body)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert contract.response_errors("createGreenPin", 200, response.json()) == []
    assert data["a"]["numbers"] == ["+917987686144"]  # national in, E.164 out
    assert data["a"]["pin"] == body["a"]["pin"]
    assert data["state"] == "active"


def test_documented_update_and_bulk_examples_as_written(client, contract):
    created = client.post(GP, json=example("greenpin_create.request.json")).json()["data"]
    update = example("greenpin_update.request.json")
    response = client.put(GP + "/" + created["greenpin_id"], json=update)
    assert response.status_code == 200, response.text
    assert contract.response_errors("updateGreenPin", 200, response.json()) == []
    assert response.json()["data"]["a"]["pin"] == "123"

    bulk = example("greenpin_bulk_update.request.json")
    for item in bulk["greenpins"]:
        item["greenpin_id"] = created["greenpin_id"]
    response = client.put(GP, json=bulk)
    assert response.status_code == 207, response.text
    body = response.json()
    assert contract.response_errors("bulkUpdateGreenPins", 207, body) == []
    assert body["metadata"] == {"failed": 0, "total": len(bulk["greenpins"]),
                                "success": len(bulk["greenpins"])}


def test_get_and_delete_examples_validate(client, contract):
    created = create(client, allocation())
    got = client.get(GP + "/" + created["greenpin_id"])
    assert contract.response_errors("getGreenPin", 200, got.json()) == []
    deleted = client.delete(GP + "/" + created["greenpin_id"])
    assert contract.response_errors("deleteGreenPin", 200, deleted.json()) == []
    assert deleted.json()["data"]["state"] == "vault"
    assert client.get(GP + "/" + created["greenpin_id"]).json()["data"]["state"] == "vault"


def test_delete_frees_numbers_and_transaction_id(client):
    created = create(client, allocation("reuse"))
    client.delete(GP + "/" + created["greenpin_id"])
    again = create(client, allocation("reuse"))
    assert again["greenpin_id"] != created["greenpin_id"]


def test_missing_party_vns_are_the_other_partys(client):
    data = create(client, allocation())
    assert data["b"]["vns"] == data["a"]["vns"] == ["+916292134464"]


def test_default_tenant_gives_a_pin_to_a_only(client):
    data = create(client, allocation(b={"numbers": ["9876500002"], "pin": "999"}))
    assert len(data["a"]["pin"]) == 4
    assert "pin" not in data["b"]


def test_pin_length_as_string(client):
    data = create(client, allocation(a={"numbers": ["9876500001"], "vns": ["6292134464"],
                                        "pin_length": "6"}))
    assert len(data["a"]["pin"]) == 6


def test_deallocation_time_follows_the_policy(client):
    data = create(client, allocation(deallocation_policy={"duration": "2d"}))
    # The frozen clock starts at 2026-01-01 05:30:00 IST.
    assert data["deallocation_time"] == "2026-01-03 05:30:00"
    default = create(client, allocation("t2", a={"numbers": ["9876500005"], "vns": ["6292134465"]},
                                        b={"numbers": ["9876500006"]}))
    assert default["deallocation_time"] == "2026-06-30 05:30:00"  # 180 days


def test_a_scheduled_deallocation_ends_when_it_was_due_not_when_the_clock_got_there(client):
    data = create(client, allocation(deallocation_policy={"duration": "60s"}))
    assert client.post("/_mock/clock/advance", json={"seconds": 3600}).status_code == 200
    ended = client.get(GP + "/" + data["greenpin_id"]).json()["data"]
    assert (ended["state"], ended["deallocation_time"]) == ("vault", "2026-01-01 05:31:00")
    # An allocation deleted by a client ends when it is deleted.
    later = create(client, allocation("t2", deallocation_policy={"duration": "60s"}))
    assert client.post("/_mock/clock/advance", json={"seconds": 30}).status_code == 200
    deleted = client.delete(GP + "/" + later["greenpin_id"]).json()["data"]
    assert deleted["deallocation_time"] == "2026-01-01 06:30:30"


def test_update_reassigns_and_rechecks(client, contract):
    first = create(client, allocation("t1"))
    second = create(client, allocation("t2", a={"numbers": ["9876500003"], "vns": ["6292134465"]},
                                       b={"numbers": ["9876500004"]}))
    # Moving the second allocation's a-number onto the first's is refused (code 14 inside it).
    clash = client.put(GP + "/" + second["greenpin_id"],
                       json={"b": {"numbers": ["9876500003"]}})
    assert clash.json()["code"] == 14
    # Moving its VN onto the first's VN with the first's a-number registered there: code 19.
    response = client.put(GP + "/" + second["greenpin_id"],
                          json={"a": {"numbers": ["9876500001"], "vns": ["6292134464"]}})
    assert response.json()["code"] == 19
    # A refused update changes nothing.
    assert client.get(GP + "/" + second["greenpin_id"]).json()["data"] == second
    ok = client.put(GP + "/" + first["greenpin_id"], json={"usage": "oneway"})
    assert ok.json()["data"]["usage"] == "oneway"
    assert ok.json()["data"]["a"]["pin"] == first["a"]["pin"]  # the PIN is kept


def test_update_needs_something_to_change(client, contract):
    created = create(client, allocation())
    response = client.put(GP + "/" + created["greenpin_id"], json={})
    assert (response.status_code, response.json()["code"]) == (400, 3)


def test_bulk_update_applies_valid_items_even_when_others_fail(client, contract):
    one = create(client, allocation("t1"))
    two = create(client, allocation("t2", a={"numbers": ["9876500003"], "vns": ["6292134465"]},
                                    b={"numbers": ["9876500004"]}))
    body = {"greenpins": [
        {"greenpin_id": one["greenpin_id"], "usage": "oneway"},
        {"greenpin_id": "missing", "usage": "oneway"},
        {"greenpin_id": two["greenpin_id"], "usage": "sideways"},
        {"usage": "oneway"},
        {"greenpin_id": two["greenpin_id"], "deallocation_policy": {"duration": "1d"}},
    ]}
    response = client.put(GP, json=body)
    assert response.status_code == 207
    result = response.json()
    assert contract.response_errors("bulkUpdateGreenPins", 207, result) == []
    assert result["metadata"] == {"failed": 3, "total": 5, "success": 2}
    codes = [item["code"] for item in result["response"]]
    assert codes == [None, 1, 5, 3, None]
    assert client.get(GP + "/" + one["greenpin_id"]).json()["data"]["usage"] == "oneway"


def test_search_filters(client, contract):
    create(client, allocation("t1"))
    second = create(client, allocation("t2", a={"numbers": ["9876500003"], "vns": ["6292134465"]},
                                       b={"numbers": ["9876500004"]}))
    client.delete(GP + "/" + second["greenpin_id"])
    everything = client.get(GP).json()
    assert contract.response_errors("listGreenPins", 200, everything) == []
    assert everything["metadata"]["total"] == 2
    assert [a["transaction_id"] for a in everything["data"]] == ["t2", "t1"]  # newest first
    assert client.get(GP, params={"state": "vault"}).json()["metadata"]["total"] == 1
    assert client.get(GP, params={"number": "+919876500004"}).json()["data"][0][
        "transaction_id"] == "t2"
    assert client.get(GP, params={"vn": "6292134464"}).json()["metadata"]["total"] == 1
    today = client.get(GP, params={"from_date": "2026-01-01", "to_date": "2026-01-01"})
    assert today.json()["metadata"]["total"] == 2
    tomorrow = client.get(GP, params={"from_date": "2026-01-02"})
    assert tomorrow.json()["metadata"]["total"] == 0
    page = client.get(GP, params={"page": 2, "page_size": 1}).json()
    assert [a["transaction_id"] for a in page["data"]] == ["t1"]


def test_a_tenant_never_sees_another_tenants_allocations(client):
    created = create(client, allocation())
    other = client.get("/v1/tenants/other/greenpin/" + created["greenpin_id"], auth=OTHER)
    assert (other.status_code, other.json()["code"]) == (404, 1)
    listing = client.get("/v1/tenants/other/greenpin", auth=OTHER).json()
    assert listing["metadata"]["total"] == 0


def test_refused_requests_leave_no_state(client):
    client.post(GP, json=allocation(usage="bad"))
    client.post(GP, json=allocation(b={"numbers": ["9876500001"]}))
    assert client.get(GP).json()["metadata"]["total"] == 0
    create(client, allocation())  # nothing half-registered blocks a good request
