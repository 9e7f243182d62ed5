"""What to do with a request whose connection dropped after it was sent: the server may or may
not have applied it, so it is sent again only when that cannot do harm.

- A request the contract says must be refused (a method the path does not declare, credentials
  other than the run's, a body of a type the operation does not take or that its schema
  rejects) changes nothing on a server that keeps the contract: sent again, its answer is
  judged as any other.
- A deletion is looked up: the allocation reads as active (not applied), or as deleted (applied,
  unless the run had deleted it before: then it was refused as "already deleted").
- A GreenPin create is looked up by its transaction id, which starts with the run's prefix: when
  an active allocation the run has not seen has it, the create was applied (and is deleted at
  the end of the run); when none has, it is sent again.
- A GreenVN create is sent again: at most one active allocation holds a `connection_id` (code
  18), so a repeat cannot allocate twice. Its answer tells: code 18 for a connection id that no
  allocation of the run held means that the first was applied.
- A call (click-to-call, or the classic connect) is looked up in the list of calls by its
  numbers (`From`, `To`, `PhoneNumber`), created since shortly before the server's latest
  answer: a call there that the run did not place means it was applied; none, that it was not.
  A number the list refuses as not valid is one the create is refused for too.
- Anything else is not sent again, and its test is reported as not judged.
"""

from __future__ import annotations

import base64
import email.utils
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from .contract import Contract
from .target import CALL_CREATE, Guard
from .transport import ABSENT, APPLIED, REFUSED, UNIQUE, Found, Send

IST = timezone(timedelta(hours=5, minutes=30))
# How much earlier than the server's latest `Date` a lost call may have been created by its
# clock: a server's clocks (the one of its answers, the one of its records) may disagree a bit.
CLOCK_SLACK = timedelta(minutes=10)
FORM = "application/x-www-form-urlencoded"


def basic_authorization(auth: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()


class Reconciler:
    def __init__(self, contract: Contract, prefix: str, auth: tuple[str, str],
                 guard: Guard) -> None:
        self.contract = contract
        self.prefix = prefix
        self.authorization = basic_authorization(auth)
        self.guard = guard  # what the run made and saw
        self.templates = [
            (re.compile("[^/]+".join(map(re.escape, re.split(r"\{[^}]+\}", op.path))) + "$"), op)
            for op in contract.operations.values()
        ]

    def __call__(self, request: requests.PreparedRequest, send: Send) -> Found | None:
        """APPLIED (with the allocation's or call's id), ABSENT, REFUSED or UNIQUE; None when
        it cannot tell."""
        if self.refused_by_contract(request):
            return Found(REFUSED)
        if request.method == "DELETE":
            return self.find_deletion(request, send)
        if request.method != "POST":
            return None
        path = urlsplit(request.url or "").path.rstrip("/")
        if path.endswith("/greenpin"):
            return self.find_greenpin(request, send)
        if path.endswith("/greenvn"):
            return self.repeat_greenvn(request)
        if CALL_CREATE.search(path):
            return self.find_call(request, send)
        return None

    def refused_by_contract(self, request: requests.PreparedRequest) -> bool:
        path = urlsplit(request.url or "").path
        if path.endswith("/Calls/connect"):
            path += ".json"  # served without `.json` too
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
        media = _text(request.headers.get("content-type")).partition(";")[0].strip().lower()
        if media and media not in operation.definition["requestBody"]["content"]:
            return True  # 415
        if media == FORM:
            return False  # its values are all strings, as the schema's are not: not checked
        if "application/json" not in operation.definition["requestBody"]["content"]:
            return True  # 415
        try:
            body: Any = json.loads(request.body or b"")  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return True  # not JSON: 400
        schema = self.contract.request_schema(operation.operation_id)
        return not self.contract.validator(schema).is_valid(body)

    def _read(self, send: Send, url: str, params: dict[str, str] | None = None) -> Any:
        """The JSON of a 200 answer to a GET, the status of another answer; None when there
        was no answer, or no JSON."""
        read = requests.Request("GET", url, params=params,
                                headers={"authorization": self.authorization}).prepare()
        try:
            answer = send(read)
            return answer.json() if answer.status_code == 200 else answer.status_code
        except (requests.RequestException, ValueError):
            return None

    def find_deletion(self, request: requests.PreparedRequest, send: Send) -> Found | None:
        """A deletion was applied when the allocation reads as deleted (in the vault)."""
        url = (request.url or "").split("?")[0]
        answer = self._read(send, url)
        if answer == 404:
            return Found(ABSENT)  # nothing there to delete: a deletion changed nothing
        data = answer.get("data") if isinstance(answer, dict) else None
        state = data.get("state") if isinstance(data, dict) else None
        allocation_id = url.rsplit("/", 1)[-1]
        # Deleted earlier in the run, it was answered "already deleted", as a new one will be.
        if state == "active" or (state == "vault" and allocation_id in self.guard.deleted):
            return Found(ABSENT)
        return Found(APPLIED, allocation_id) if state == "vault" else None

    def find_greenpin(self, request: requests.PreparedRequest, send: Send) -> Found | None:
        transaction_id = _json_body(request).get("transaction_id")
        if not isinstance(transaction_id, str) or not transaction_id.startswith(self.prefix):
            return None
        collection = (request.url or "").split("?")[0]
        answer = self._read(send, collection, {"transaction_id": transaction_id})
        found = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(found, list):
            return None
        for allocation in found:
            allocation_id = allocation.get("greenpin_id") if isinstance(allocation, dict) else None
            if (isinstance(allocation_id, str) and allocation.get("state") == "active"
                    and self.guard.adopt(allocation_id, collection)):
                return Found(APPLIED, allocation_id)
        return Found(ABSENT)

    def repeat_greenvn(self, request: requests.PreparedRequest) -> Found | None:
        connection_id = _json_body(request).get("connection_id")
        if not isinstance(connection_id, str):
            return None
        held = connection_id in self.guard.connections  # before the lost request

        def verify(answer: requests.Response) -> str | None:
            if answer.status_code != 409 or held:
                return None  # a first allocation would have made the repeat code 18
            try:
                errors = answer.json()
            except ValueError:
                return None
            if not (isinstance(errors, list) and errors and isinstance(errors[0], dict)
                    and errors[0].get("code") == 18):
                return None
            return (f"the repeat was answered code 18: an allocation it did not see holds "
                    f"connection_id {connection_id}")

        return Found(UNIQUE, verify=verify)

    def find_call(self, request: requests.PreparedRequest, send: Send) -> Found | None:
        url = urlsplit(request.url or "")
        path = url.path.rstrip("/")
        numbers = _call_numbers(request, path)
        if numbers is None:
            return None
        created = CALL_CREATE.search(path)
        account = created.group(1).split("/")[2] if created else ""
        query = dict(zip(("From", "To", "PhoneNumber"), numbers, strict=True))
        query.update(PageSize="100", SortBy="DateCreated:desc")
        since = _parsed_date(self.guard.server_date)
        if since is not None:
            query["DateCreated"] = "gte:" + (since - CLOCK_SLACK).astimezone(IST).strftime(
                "%Y-%m-%d %H:%M:%S")
        calls_url = f"{url.scheme}://{url.netloc}{path[:created.start() if created else 0]}"
        answer = self._read(send, f"{calls_url}/v1/Accounts/{account}/Calls", query)
        if answer == 400:
            # One of its numbers is not valid for the server (the list's other filters are
            # well-formed): a create with it is refused too, whatever the number's part.
            return Found(REFUSED)
        calls = answer.get("Calls") if isinstance(answer, dict) else None
        if not isinstance(calls, list):
            return None
        for call in calls:
            if isinstance(call, dict) and self.guard.placed(call.get("Sid")):
                return Found(APPLIED, str(call["Sid"]))
        return Found(ABSENT)


def _json_body(request: requests.PreparedRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"")  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _call_numbers(request: requests.PreparedRequest,
                  path: str) -> tuple[str, str, str] | None:
    """`From`, `To` and the caller id of a call's create, as the list of calls filters them."""
    if path.endswith("/calls"):
        body = _json_body(request)
        numbers = (_dig(body, "from", "contact_uri"), _dig(body, "to", "contact_uri"),
                   body.get("virtual_number"))
    else:
        form = {key: values[0] for key, values in parse_qs(_text(request.body)).items()}
        # Connected to a flow (`Url`), the call's `To` is its caller id.
        numbers = (form.get("From"), form.get("To") or form.get("CallerId"), form.get("CallerId"))
    first, second, third = numbers
    if isinstance(first, str) and isinstance(second, str) and isinstance(third, str):
        return first, second, third
    return None


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value if isinstance(value, str) else ""


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _parsed_date(value: str | None) -> datetime | None:
    try:
        return email.utils.parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError, IndexError):
        return None
