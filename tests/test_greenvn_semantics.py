"""GreenVN: choosing a VN by preferences, its answer shapes, get and delete."""

from __future__ import annotations

from .helpers import GVN, example, greenvn


def test_documented_example_as_written(client, contract):
    response = client.post(GVN, json=example("greenvn_create.request.json"))
    assert response.status_code == 200, response.text
    assert contract.response_errors("createGreenVN", 200, response.json()) == []
    data = response.json()["data"]
    assert data["state"] == "active"
    assert data["greenvn_id"].isdigit()


def test_preferences_pick_the_matching_vn(client):
    by_region = client.post(GVN, json=greenvn(preferences={"region": "KA", "type": "landline"}))
    assert by_region.json()["data"]["green_vn"] in {"+918012345678", "+918067891234"}
    by_number = client.post(GVN, json=greenvn("c2", aparty_numbers=["9876500031"],
                                               bparty_numbers=["9876500032"],
                                               preferences={"greenvn": "2235499102"}))
    assert by_number.json()["data"]["green_vn"] == "+912235499102"
    by_pin_code = client.post(GVN, json=greenvn("c3", aparty_numbers=["9876500041"],
                                                 bparty_numbers=["9876500042"],
                                                 preferences={"pin_code": 700001,
                                                              "type": "landline"}))
    assert by_pin_code.json()["data"]["green_vn"] == "+913340591234"  # Kolkata: WB landline


def test_loose_preferences_fall_back_to_another_vn(client):
    first = client.post(GVN, json=greenvn(preferences={"region": "KL", "type": "mobile"}))
    assert first.json()["data"]["green_vn"] == "+919846012345"
    # The same parties cannot be mapped twice on that VN; without strictness another VN serves.
    second = client.post(GVN, json=greenvn("c2", preferences={"region": "KL", "type": "mobile"}))
    assert second.status_code == 200
    assert second.json()["data"]["green_vn"] != "+919846012345"


def test_get_and_delete(client, contract):
    created = client.post(GVN, json=greenvn(flow_id="245061")).json()["data"]
    assert created["flow_id"] == "245061"
    got = client.get(f"{GVN}/{created['greenvn_id']}")
    assert contract.response_errors("getGreenVN", 200, got.json()) == []
    assert got.json()["data"] == created
    deleted = client.delete(f"{GVN}/{created['greenvn_id']}")
    assert deleted.json()["data"]["state"] == "vault"
    again = client.delete(f"{GVN}/{created['greenvn_id']}")
    assert (again.status_code, again.json()[0]["code"]) == (410, 22)
    # The connection id is free again once deallocated.
    assert client.post(GVN, json=greenvn()).status_code == 200


def test_pins_as_numbers_or_strings(client):
    body = greenvn(aparty_pins=[12, "0034"], bparty_pins=["56"])
    assert client.post(GVN, json=body).status_code == 200
    clash = greenvn("c2", aparty_numbers=["9876500051"], bparty_numbers=["9876500052"],
                    aparty_pins=["7"], bparty_pins=[7])
    response = client.post(GVN, json=clash)
    assert (response.status_code, response.json()[0]["code"]) == (400, 5)
