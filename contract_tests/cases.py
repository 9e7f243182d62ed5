"""What the run changes in a generated case before it is sent: ids the run can recognise, and
nothing that real time would answer differently when hypothesis replays a sequence.

Hypothesis runs a stateful sequence again from a prefix of its choices, and the rules it may
choose next depend on the answers so far (a create answered 200 fills the bundle its links read
from). An answer that changes with real time between two runs of one prefix makes hypothesis
stop with "inconsistent data generation": the clock's doing, not the contract's. Through a slow
or throttled staging, minutes pass between such runs.
"""

from __future__ import annotations

import re
from typing import Any

ID_FIELDS = ("transaction_id", "connection_id")
SHORT_DURATION = re.compile(r"^[1-9][0-9]{0,4}[sm]$")
# The policy's two spellings, which the contract takes alike.
POLICIES = ("deallocation_policy", "Deallocation_policy")


def mark_ids(case: Any, prefix: str) -> None:
    """Gives what the run creates a recognisable id, without making an invalid body valid."""
    if not isinstance(case.body, dict):
        return
    for name in ID_FIELDS:
        value = case.body.get(name)
        if isinstance(value, str) and 1 <= len(value) <= 255 - len(prefix):
            case.body[name] = prefix + value


def outlive_the_run(case: Any) -> None:
    """Gives a short deallocation policy a day, in either spelling, in a body or in the items of
    a bulk update: an allocation expiring in real time (its own, or one that holds a PIN or a
    number a sequence asks for) would be answered differently the next time."""
    body = case.body if isinstance(case.body, dict) else {}
    items = body.get("greenpins")
    for holder in [body, *(items if isinstance(items, list) else [])]:
        for name in POLICIES:
            policy = holder.get(name) if isinstance(holder, dict) else None
            if isinstance(policy, dict) and SHORT_DURATION.match(str(policy.get("duration"))):
                policy["duration"] = "1d"
