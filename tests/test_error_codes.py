"""Every Appendix-1 code a client can cause, caused through HTTP, with its status and envelope."""

from __future__ import annotations

from typing import Any

import pytest

from contract_tests.contract import Contract

from .helpers import DEMO, GP, GVN, OTHER, allocation, create, greenvn


def assert_error(
    response: Any, code: int, contract: Contract, operation_id: str, *, as_list: bool = False
) -> None:
    status = contract.error_statuses[code]
    assert response.status_code == status, response.text
    body = response.json()
    envelope = body[0] if as_list else body
    assert as_list == isinstance(body, list)
    assert envelope["success"] is False
    assert envelope["code"] == code
    assert envelope["status"] == status
    assert envelope["data"] is None
    assert envelope["message"]
    assert contract.response_errors(operation_id, status, body) == []


def test_code_0_internal_error_through_fault_injection(client, contract):
    assert client.post("/_mock/faults", json={"internal_errors": 1}).status_code == 200
    assert_error(client.get(GP + "/x"), 0, contract, "getGreenPin")
    assert client.get(GP).status_code == 200  # only the next request fails


def test_code_1_unknown_allocation(client, contract):
    assert_error(client.get(GP + "/no-such-id"), 1, contract, "getGreenPin")
    assert_error(client.delete(GP + "/no-such-id"), 1, contract, "deleteGreenPin")
    assert_error(client.get(GVN + "/123456"), 1, contract, "getGreenVN", as_list=True)


def test_code_2_unsupported_search_filter(client, contract):
    assert_error(client.get(GP, params={"colour": "red"}), 2, contract, "listGreenPins")


@pytest.mark.parametrize(
    "body",
    [
        {"a": {"numbers": ["9876500001"], "vns": ["6292134464"]}},
        {"transaction_id": "t", "a": {"vns": ["6292134464"]}},
        {"transaction_id": "t", "a": {"numbers": ["9876500001"]}},
    ],
    ids=["no-transaction-id", "no-numbers", "no-vns"],
)
def test_code_3_mandatory_parameter_missing(client, contract, body):
    assert_error(client.post(GP, json=body), 3, contract, "createGreenPin")


def test_code_3_greenvn_missing_usage(client, contract):
    body = greenvn()
    del body["usage"]
    assert_error(client.post(GVN, json=body), 3, contract, "createGreenVN", as_list=True)


def test_code_4_given_pin_already_in_use_on_the_vn(client, contract):
    create(
        client,
        allocation("t1", a={"numbers": ["9876500001"], "vns": ["6292134464"], "pin": "4321"}),
    )
    second = allocation(
        "t2",
        a={"numbers": ["9876500003"], "vns": ["6292134464"], "pin": "4321"},
        b={"numbers": ["9876500004"]},
    )
    assert_error(client.post(GP, json=second), 4, contract, "createGreenPin")


def test_code_4_greenvn_strict_preferences_unsatisfiable(client, contract):
    body = greenvn(strictness=True, preferences={"region": "KL", "type": "mobile"})
    assert client.post(GVN, json=body).status_code == 200
    body = greenvn("conn-2", strictness=True, preferences={"region": "KL", "type": "mobile"})
    # The only KL mobile VN now serves numbers 11 and 12 already.
    assert_error(client.post(GVN, json=body), 4, contract, "createGreenVN", as_list=True)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"usage": "threeway"}, "usage"),
        ({"deallocation_policy": {"duration": "10y"}}, "duration"),
        ({"a": {"numbers": ["9876500001"], "vns": ["6292134464"], "pin_length": 12}}, "pin_length"),
        ({"colour": "red"}, "colour"),
    ],
    ids=["usage", "duration", "pin-length", "unknown-member"],
)
def test_code_5_bad_parameter(client, contract, change, where):
    response = client.post(GP, json=allocation(**change))
    assert_error(response, 5, contract, "createGreenPin")


def test_code_7_missing_or_wrong_credentials(client, contract):
    assert_error(client.get(GP, auth=None), 7, contract, "listGreenPins")
    assert_error(client.get(GP, auth=("demo_key", "wrong")), 7, contract, "listGreenPins")
    assert_error(
        client.get(GP + "/x", headers={"authorization": "Bearer abc"}, auth=None),
        7,
        contract,
        "getGreenPin",
    )


def test_code_8_credentials_of_another_tenant(client, contract):
    assert_error(client.get(GP, auth=OTHER), 8, contract, "listGreenPins")
    assert_error(
        client.post(GVN, json=greenvn(), auth=OTHER), 8, contract, "createGreenVN", as_list=True
    )


def test_code_9_unsupported_api_version(client, contract):
    response = client.post("/v2/tenants/demo/greenpin", json=allocation())
    assert response.status_code == contract.error_statuses[9]
    assert response.json()["code"] == 9


def test_code_13_same_number_twice_in_a_party(client, contract):
    body = allocation(a={"numbers": ["9876500001", "+919876500001"], "vns": ["6292134464"]})
    assert_error(client.post(GP, json=body), 13, contract, "createGreenPin")


def test_code_14_number_in_both_parties(client, contract):
    body = allocation(b={"numbers": ["09876500001"]})
    assert_error(client.post(GP, json=body), 14, contract, "createGreenPin")


@pytest.mark.parametrize(
    "preferences", [{"region": "ZZ"}, {"pin_code": "999999"}], ids=["region", "pin-code"]
)
def test_code_15_unsupported_region(client, contract, preferences):
    response = client.post(GVN, json=greenvn(preferences=preferences))
    assert_error(response, 15, contract, "createGreenVN", as_list=True)


@pytest.mark.parametrize("number", ["12345", "+91987650000100", "98765abcde", "+1"])
def test_code_16_invalid_number(client, contract, number):
    body = allocation(a={"numbers": [number], "vns": ["6292134464"]})
    assert_error(client.post(GP, json=body), 16, contract, "createGreenPin")


def test_code_17_bulk_over_the_limit(client, contract):
    created = create(client, allocation())
    items = [{"greenpin_id": created["greenpin_id"], "usage": "oneway"}] * 101
    response = client.put(GP, json={"greenpins": items})
    assert_error(response, 17, contract, "bulkUpdateGreenPins")
    # Refused as a whole: nothing was applied.
    assert client.get(GP + "/" + created["greenpin_id"]).json()["data"]["usage"] == "twoway"


def test_code_18_transaction_id_of_an_active_allocation(client, contract):
    create(client, allocation("same"))
    body = allocation(
        "same", a={"numbers": ["9876500005"], "vns": ["6292134465"]}, b={"numbers": ["9876500006"]}
    )
    assert_error(client.post(GP, json=body), 18, contract, "createGreenPin")


def test_code_18_greenvn_connection_id_reused_answers_a_list(client, contract):
    assert client.post(GVN, json=greenvn("dup")).status_code == 200
    response = client.post(
        GVN, json=greenvn("dup", aparty_numbers=["9876500021"], bparty_numbers=["9876500022"])
    )
    assert_error(response, 18, contract, "createGreenVN", as_list=True)


def test_code_19_number_already_registered_on_the_vn(client, contract):
    create(client, allocation("t1"))
    body = allocation("t2", b={"numbers": ["9876500009"]})  # same a-number, same VN
    assert_error(client.post(GP, json=body), 19, contract, "createGreenPin")


def test_code_20_vn_not_in_the_tenant_pool(client, contract):
    body = allocation(a={"numbers": ["9876500001"], "vns": ["8045671234"]})  # other's VN
    assert_error(client.post(GP, json=body), 20, contract, "createGreenPin")


def test_code_22_delete_twice(client, contract):
    created = create(client, allocation())
    assert client.delete(GP + "/" + created["greenpin_id"]).status_code == 200
    assert_error(client.delete(GP + "/" + created["greenpin_id"]), 22, contract, "deleteGreenPin")


@pytest.mark.parametrize(
    "params",
    [{"from_date": "2026-02-01", "to_date": "2026-01-01"}, {"from_date": "yesterday"}],
    ids=["reversed", "not-a-date"],
)
def test_code_23_invalid_date_range(client, contract, params):
    assert_error(client.get(GP, params=params), 23, contract, "listGreenPins")


def test_code_50_unknown_flow(client, contract):
    response = client.post(GVN, json=greenvn(flow_id="999"))
    assert_error(response, 50, contract, "createGreenVN", as_list=True)


def test_code_3_flow_required_when_the_tenant_has_several(make_client, contract):
    other = make_client()
    body = greenvn()
    response = other.post("/v1/tenants/other/greenvn", json=body, auth=OTHER)
    assert_error(response, 3, contract, "createGreenVN", as_list=True)
    body["flow_id"] = "2"
    assert other.post("/v1/tenants/other/greenvn", json=body, auth=OTHER).status_code == 200


def test_every_client_code_of_the_spec_is_caused_here(contract):
    """The list of codes above is complete: a new code in the spec needs a test here."""
    tested = {0, 1, 2, 3, 4, 5, 7, 8, 9, 13, 14, 15, 16, 17, 18, 19, 20, 22, 23, 50}
    assert set(contract.error_statuses) == tested


def test_auth_comes_before_validation(client, contract):
    assert_error(client.post(GP, json={"junk": True}, auth=None), 7, contract, "createGreenPin")
    assert DEMO  # the fixture's credentials are the embedded default's
