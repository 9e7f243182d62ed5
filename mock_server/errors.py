"""The one error type of the domain: it carries a documented ExoBridge code and no HTTP."""

from __future__ import annotations

from enum import IntEnum


class Code(IntEnum):
    """The ExoBridge error codes (Appendix 1 of the documents), by name; a test checks them
    against the spec's table (`ErrorCode` in `exobridge.yaml`), where each one's HTTP status and
    description live."""

    INTERNAL_ERROR = 0
    GREENPIN_NOT_FOUND = 1
    UNSUPPORTED_SEARCH_FILTER = 2
    MANDATORY_PARAMETER_MISSING = 3
    NO_FREE_GREENPIN = 4
    BAD_PARAMETERS = 5
    AUTHENTICATION_FAILED = 7
    NOT_PERMITTED = 8
    UNSUPPORTED_VERSION = 9
    DUPLICATE_NUMBERS = 13
    NUMBER_IN_BOTH_PARTIES = 14
    UNSUPPORTED_REGION = 15
    INVALID_NUMBER = 16
    TOO_MANY_IN_BULK = 17
    ALLOCATION_EXISTS = 18
    NUMBER_HAS_ANOTHER_PIN = 19
    NUMBER_NOT_IN_GROUP = 20
    ALREADY_DELETED = 22
    INVALID_DATE_RANGE = 23
    INVALID_CALL_FLOW = 50


# An answer quotes at most this much of what it says went wrong, so that no error echoes a large
# input back.
MAX_DETAIL = 500


def shortened(text: str) -> str:
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 3] + "..."


class ExoBridgeError(Exception):
    """A request the provider would refuse with `code` (Appendix 1).

    `detail` says what exactly was wrong; the envelope's message is the code's documented
    description followed by it. The HTTP status comes from the spec's code table, not from here.
    """

    def __init__(self, code: Code, detail: str = "", *, status: int | None = None) -> None:
        detail = shortened(detail)
        super().__init__(code, detail)
        self.code = Code(code)
        self.detail = detail
        # Only for the few answers the documents give a status without a code of its own
        # (413 and 415 for bodies, 429 for throttling).
        self.status = status

    def __repr__(self) -> str:
        return f"ExoBridgeError(code={self.code}, detail={self.detail!r})"


class CallsApiError(Exception):
    """A refusal of the voice (v3) API, which has its own envelope and numeric error codes."""

    def __init__(self, http_code: int, code: int, message: str, description: str) -> None:
        super().__init__(http_code, code, message, description)
        self.http_code = http_code
        self.code = code
        self.message = shortened(message)
        self.description = shortened(description)


class CallRefused(Exception):
    """A call request the domain refuses; the voice APIs' routes render it (`routes/calls.py`
    gives each kind its HTTP status, code and message)."""

    def __init__(self, description: str) -> None:
        description = shortened(description)
        super().__init__(description)
        self.description = description


class InvalidCallRequest(CallRefused):
    """A body or field the call API cannot take (the documented 10725)."""


class BadCallQuery(CallRefused):
    """A list's filters or cursor that cannot be applied."""


class CallNotFound(CallRefused):
    """No such call, virtual number or flow in the account."""

