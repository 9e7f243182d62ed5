"""The provider's classic Python SDK (PyPI `exotel`), unchanged but for its base URL, against a
served mock: it places calls, connects a number to a flow and reads call details."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from exotel import Exotel

from contract_tests.contract import Contract
from mock_server.testing import MockServer

CALLER_ID = "02235499102"
FLOW_ID = "245061"


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    with MockServer(seed=7) as server:
        yield server


@pytest.fixture
def sdk(mock: MockServer) -> Exotel:
    mock.reset()
    # The classic credentials: the account SID and the tenant's API token.
    return Exotel("demo", "demo_token", baseurl=mock.base_url + "/")


def test_call_number_then_call_details(sdk: Exotel, mock: MockServer, contract: Contract) -> None:
    placed = sdk.call_number("08516043026", CALLER_ID, "09876516844", custom_data="order-7")
    assert placed.status_code == 200, placed.text
    call = placed.json()["Call"]
    assert (call["Status"], call["From"], call["To"]) == ("in-progress", "08516043026",
                                                          "09876516844")
    mock.advance_clock(16)
    details = sdk.call_details(call["Sid"])
    assert details.status_code == 200, details.text
    done = details.json()
    assert contract.response_errors("getCallV1", 200, done) == []
    assert (done["Call"]["Status"], done["Call"]["Duration"]) == ("completed", 16)


def test_call_flow_runs_the_tenants_flow(sdk: Exotel, mock: MockServer, contract: Contract) -> None:
    placed = sdk.call_flow("08516043026", CALLER_ID, FLOW_ID)
    assert placed.status_code == 200, placed.text
    assert contract.response_errors("connectCallV1", 200, placed.json()) == []
    sid = placed.json()["Call"]["Sid"]
    mock.advance_clock(13)
    call = sdk.call_details(sid).json()["Call"]
    assert (call["Status"], call["Duration"], call["To"]) == ("completed", 13, CALLER_ID)
    unknown = sdk.call_flow("08516043026", CALLER_ID, "999")
    assert unknown.status_code == 404
    assert "flow 999 is not a call flow" in unknown.json()["RestException"]["Message"]


def test_wrong_token_and_outside_the_contract(mock: MockServer) -> None:
    wrong = Exotel("demo", "not_the_token", baseurl=mock.base_url + "/")
    assert wrong.call_number("08516043026", CALLER_ID, "09876516844").status_code == 401
    sdk = Exotel("demo", "demo_token", baseurl=mock.base_url + "/")
    sms = sdk.sms(CALLER_ID, "09876516844", "hi")
    assert sms.status_code == 404
    message = sms.json()["RestException"]["Message"]
    assert "Sms/send.json is not part of this mock's contract" in message
