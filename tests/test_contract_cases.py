"""What the contract suite changes in a generated case: its ids, and what real time would
answer differently when hypothesis replays a sequence (`contract_tests/cases.py`)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from contract_tests.cases import mark_ids, no_busy_users, outlive_the_run


def case(body: Any) -> Any:
    return SimpleNamespace(body=body)


def test_ids_get_the_run_prefix_unless_too_long_or_not_strings():
    made = case({"transaction_id": "t", "connection_id": 7, "other": "o"})
    mark_ids(made, "exoct-")
    assert made.body == {"transaction_id": "exoct-t", "connection_id": 7, "other": "o"}
    too_long = case({"transaction_id": "x" * 250})
    mark_ids(too_long, "exoct-")
    assert too_long.body == {"transaction_id": "x" * 250}  # still as invalid as generated


def test_short_policies_in_either_spelling_and_in_bulk_items_get_a_day():
    made = case({"Deallocation_policy": {"duration": "20s"},
                 "greenpins": [{"deallocation_policy": {"duration": "3m"}},
                               {"Deallocation_policy": {"duration": "2d"}}, "not an item"]})
    outlive_the_run(made)
    assert made.body == {"Deallocation_policy": {"duration": "1d"},
                         "greenpins": [{"deallocation_policy": {"duration": "1d"}},
                                       {"Deallocation_policy": {"duration": "2d"}},
                                       "not an item"]}
    invalid = case({"deallocation_policy": {"duration": "0s"}})
    outlive_the_run(invalid)
    assert invalid.body == {"deallocation_policy": {"duration": "0s"}}


def test_a_sequence_s_call_leaves_its_user_available():
    # The 16 s a call keeps its user busy would answer a replayed create 200 or 409 by the clock.
    made = case({"from": {"contact_uri": "8516043026", "state_management": True}})
    no_busy_users(made)
    assert made.body == {"from": {"contact_uri": "8516043026", "state_management": False}}
    invalid = case({"from": {"contact_uri": "8516043026", "state_management": "true"}})
    no_busy_users(invalid)
    assert invalid.body["from"]["state_management"] == "true"  # refused as generated
    for body in (None, [], {"from": "x"}):
        no_busy_users(case(body))
