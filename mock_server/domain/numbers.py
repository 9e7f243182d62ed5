"""The rules on the numbers of a request: valid (16), no repeats in a group (13), VNs owned (20)."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import Code, ExoBridgeError
from ..numbers import InvalidNumber, to_e164
from ..settings import Tenant


def normalise_numbers(values: Sequence[str], where: str) -> tuple[str, ...]:
    """The numbers in E.164, in order; code 16 for an invalid one, 13 for one given twice."""
    if len(values) == 1:  # the common case, without the list
        try:
            return (to_e164(values[0]),)
        except InvalidNumber as exc:
            raise ExoBridgeError(Code.INVALID_NUMBER, f"{where}[0]: {exc}") from None
    result: list[str] = []
    for index, value in enumerate(values):
        try:
            number = to_e164(value)
        except InvalidNumber as exc:
            raise ExoBridgeError(Code.INVALID_NUMBER, f"{where}[{index}]: {exc}") from None
        if number in result:
            raise ExoBridgeError(Code.DUPLICATE_NUMBERS, f"{where} holds {number} more than once")
        result.append(number)
    return tuple(result)


# Allocations mostly use the same few VN lists: each distinct one is kept once.
_VN_LISTS: dict[tuple[str, ...], tuple[str, ...]] = {}
_VN_LISTS_KEPT = 4096


def normalise_vns(tenant: Tenant, values: Sequence[str], where: str) -> tuple[str, ...]:
    """Like normalise_numbers, and each must be one of the tenant's VNs (code 20)."""
    vns = normalise_numbers(values, where)
    for index, vn in enumerate(vns):
        if tenant.pool_number(vn) is None:
            raise ExoBridgeError(
                Code.NUMBER_NOT_IN_GROUP,
                f"{where}[{index}]: {vn} is not a virtual number of tenant {tenant.tenant_id}"
            )
    kept = _VN_LISTS.get(vns)
    if kept is not None:
        return kept
    if len(_VN_LISTS) < _VN_LISTS_KEPT:
        _VN_LISTS[vns] = vns
    return vns
