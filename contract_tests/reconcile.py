"""What to do with a request whose connection dropped after it was sent: the server may or may
not have applied it, so it is sent again only when that cannot do harm.

- A request the contract says must be refused (a method the path does not declare, credentials
  other than the run's, a body its schema rejects) changes nothing on a server that keeps the
  contract: sent again, its answer is judged as any other.
- A deletion is looked up: the allocation reads as active (not applied), or as deleted (applied,
  unless the run had deleted it before: then it was refused as "already deleted").
- A GreenPin create is looked up by its transaction id, which starts with the run's prefix: when
  an active allocation the run has not seen has it, the create was applied (and is deleted at
  the end of the run); when none has, it is sent again.
- Anything else (a GreenVN create: GreenVN has no search; a call: it carries no id of the run's)
  is not sent again, and its test is reported as not judged.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests

from .contract import Contract
from .transport import Send

APPLIED, ABSENT, REFUSED = "applied", "absent", "refused"


def basic_authorization(auth: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()


class Reconciler:
    def __init__(self, contract: Contract, prefix: str, auth: tuple[str, str],
                 adopt: Callable[[str, str], bool],
                 deleted: Callable[[str], bool] = lambda allocation_id: False) -> None:
        self.contract = contract
        self.prefix = prefix
        self.authorization = basic_authorization(auth)
        self.adopt = adopt  # keeps an allocation for deletion; False when already kept
        self.deleted = deleted  # whether the run saw the allocation deleted
        self.templates = [
            (re.compile("[^/]+".join(map(re.escape, re.split(r"\{[^}]+\}", op.path))) + "$"), op)
            for op in contract.operations.values()
        ]

    def __call__(self, request: requests.PreparedRequest,
                 send: Send) -> tuple[str, str | None] | None:
        """APPLIED (with the allocation's id), ABSENT or REFUSED; None when it cannot tell."""
        if self.refused_by_contract(request):
            return (REFUSED, None)
        if request.method == "DELETE":
            return self.find_deletion(request, send)
        return self.find_greenpin(request, send)

    def refused_by_contract(self, request: requests.PreparedRequest) -> bool:
        path = urlsplit(request.url or "").path
        declared = [op for pattern, op in self.templates if pattern.search(path)]
        if not declared:
            return False  # a path the contract does not know: nothing can be said
        operation = next((op for op in declared if op.method == request.method), None)
        if operation is None:
            return True  # 405
        if request.headers.get("authorization") != self.authorization:
            return True  # 401
        if "requestBody" not in operation.definition:
            return False
        try:
            body: Any = json.loads(request.body or b"")  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return True  # not JSON: 400 or 415
        schema = self.contract.request_schema(operation.operation_id)
        return not self.contract.validator(schema).is_valid(body)

    def find_deletion(self, request: requests.PreparedRequest,
                      send: Send) -> tuple[str, str | None] | None:
        """A deletion was applied when the allocation reads as deleted (in the vault)."""
        url = (request.url or "").split("?")[0]
        read = requests.Request("GET", url, headers={"authorization": self.authorization})
        try:
            answer = send(read.prepare())
            if answer.status_code == 404:
                return (ABSENT, None)  # nothing there to delete: a deletion changed nothing
            data = answer.json().get("data") if answer.status_code == 200 else None
        except (requests.RequestException, ValueError, AttributeError):
            return None
        state = data.get("state") if isinstance(data, dict) else None
        allocation_id = url.rsplit("/", 1)[-1]
        # Deleted earlier in the run, it was answered "already deleted", as a new one will be.
        if state == "active" or (state == "vault" and self.deleted(allocation_id)):
            return (ABSENT, None)
        return (APPLIED, allocation_id) if state == "vault" else None

    def find_greenpin(self, request: requests.PreparedRequest,
                      send: Send) -> tuple[str, str | None] | None:
        collection = (request.url or "").split("?")[0]
        if request.method != "POST" or not collection.endswith("/greenpin"):
            return None
        try:
            body = json.loads(request.body or b"")  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        transaction_id = body.get("transaction_id") if isinstance(body, dict) else None
        if not isinstance(transaction_id, str) or not transaction_id.startswith(self.prefix):
            return None
        search = requests.Request("GET", collection, params={"transaction_id": transaction_id},
                                  headers={"authorization": self.authorization}).prepare()
        try:
            answer = send(search)
            found = answer.json().get("data") if answer.status_code == 200 else None
        except (requests.RequestException, ValueError, AttributeError):
            return None
        if not isinstance(found, list):
            return None
        for allocation in found:
            allocation_id = allocation.get("greenpin_id") if isinstance(allocation, dict) else None
            if (isinstance(allocation_id, str) and allocation.get("state") == "active"
                    and self.adopt(allocation_id, collection)):
                return (APPLIED, allocation_id)
        return (ABSENT, None)
