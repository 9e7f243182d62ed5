"""The GreenVN regions and the region an Indian postal PIN code falls in.

The document lists eleven regions and says a pin code of any other region gets a VN "from a
region in the list that is closest". Postal circles are read from the first two digits (three for
Mumbai); a circle that is not listed maps to the listed region closest to it.
"""

from __future__ import annotations

# (first digits, region, what the digits cover); the most specific prefix wins.
_CIRCLES: tuple[tuple[str, str, str], ...] = (
    ("11", "DL", "Delhi"),
    ("12", "DL", "Haryana"),
    ("13", "DL", "Haryana"),
    ("14", "DL", "Punjab"),
    ("15", "DL", "Punjab"),
    ("16", "DL", "Punjab, Chandigarh"),
    ("17", "DL", "Himachal Pradesh"),
    ("18", "DL", "Jammu and Kashmir"),
    ("19", "DL", "Jammu and Kashmir, Ladakh"),
    *((str(p), "DL", "Uttar Pradesh, Uttarakhand") for p in range(20, 29)),
    *((str(p), "RJ", "Rajasthan") for p in range(30, 35)),
    *((str(p), "GJ", "Gujarat, Daman and Diu") for p in range(36, 40)),
    ("400", "MU", "Mumbai"),
    ("401", "MU", "Mumbai (Thane, Palghar)"),
    *((str(p), "MH", "Maharashtra, Goa") for p in range(40, 45)),
    *((str(p), "MP", "Madhya Pradesh") for p in range(45, 49)),
    ("49", "MP", "Chhattisgarh"),
    *((str(p), "AP", "Telangana, Andhra Pradesh") for p in range(50, 54)),
    *((str(p), "KA", "Karnataka") for p in range(56, 60)),
    *((str(p), "TN", "Tamil Nadu, Puducherry") for p in range(60, 65)),
    *((str(p), "KL", "Kerala, Lakshadweep") for p in range(67, 70)),
    *((str(p), "WB", "West Bengal, Sikkim, Andaman and Nicobar") for p in range(70, 75)),
    *((str(p), "WB", "Odisha") for p in range(75, 78)),
    ("78", "WB", "Assam"),
    ("79", "WB", "North Eastern states"),
    *((str(p), "WB", "Bihar, Jharkhand") for p in range(80, 86)),
)
_BY_PREFIX = {prefix: region for prefix, region, _ in _CIRCLES}


def region_for_pin_code(pin_code: str) -> str | None:
    """The listed region of a 6-digit postal PIN code, None when no postal circle has it.

    Codes beginning with 9 belong to the Army Postal Service and have no place.
    """
    return _BY_PREFIX.get(pin_code[:3]) or _BY_PREFIX.get(pin_code[:2])


def pin_code_table() -> list[tuple[str, str, str]]:
    """The mapping, for the documentation."""
    return list(_CIRCLES)
