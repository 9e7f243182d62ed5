"""What the contract suite changes in a generated case: its ids, and what real time would
answer differently when hypothesis replays a sequence (`contract_tests/cases.py`)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from contract_tests.cases import mark_ids, outlive_the_run


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
