"""Checks a consumer's webhook handler against what the provider really sends.

    >>> from mock_server.handler_check import check_handler
    >>> report = check_handler("http://127.0.0.1:9000/callbacks/{event}", secret="whsec_...")
    >>> report.assert_ok()

The same checks as `exomock check-handler`: realistic payloads of every outcome, duplicates,
reordering, a burst, an unknown member, signatures and the Connect applet's answer.
"""

from __future__ import annotations

from .report import CheckResult, Outcome, Report
from .runner import DEFAULT_BURST, DEFAULT_TIMEOUT, HandlerCheckError, check_handler

__all__ = [
    "DEFAULT_BURST",
    "DEFAULT_TIMEOUT",
    "CheckResult",
    "HandlerCheckError",
    "Outcome",
    "Report",
    "check_handler",
]
