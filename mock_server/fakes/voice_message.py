"""Fake voice message (voice broadcast) status callbacks."""

from __future__ import annotations

import math
from typing import Any

from .source import (
    _hangup_causes,
    _Source,
)


def _gen_voice_message_status(src: _Source) -> dict[str, Any]:
    causes = _hangup_causes()
    sender = src.landline()
    job_type = "TTS" if src.chance(0.6) else "AUDIO"
    accepted = src.moment()
    items = []
    for index, number in enumerate(src.mobiles(src.rng.choice((1, 1, 1, 2, 3)))):
        status = src.weighted(
            {"DELIVRD": 0.55, "UNDELIV": 0.3, "REJECTD": 0.05, "ACCEPTD": 0.05, "UNKNOWN": 0.05},
            f"data.{index}.status",
        )
        ring: int | bool = False
        answer: int | bool = False
        hang: int | bool = False
        duration = 0
        code: int | None = None
        begin = int(accepted.timestamp()) + src.rng.randint(1, 30)
        sent = begin
        if status == "DELIVRD":
            ring = begin
            answer = ring + src.rng.randint(2, 25)
            duration = src.rng.randint(5, 90)
            hang = answer + duration
            sent = hang
            code = 0
        elif status == "UNDELIV":
            ring = begin
            hang = ring + src.rng.randint(0, 45)
            sent = hang
            common: tuple[int, ...] = (4017, 4018, 4019, 4020, 4021, 4001, 4031, 4034, 4041)
            if job_type == "AUDIO" and src.chance(0.1):
                common = (3005,)
            pool = [c for c in common if c in causes] if src.chance(0.9) else []
            code = src.rng.choice(pool or [c for c in causes if c >= 4000] or list(causes))
        elif status == "REJECTD":
            pool = [c for c in (3001, 3002, 3003, 3004) if c in causes]
            code = src.rng.choice(pool) if pool else None
        elif status == "UNKNOWN" and src.chance(0.5):
            ring = begin
        sent += src.rng.randint(0, 3)
        item: dict[str, Any] = {
            "type": "voice",
            "message_id": src.digits(21),
            "status": status,
            "timestamp": sent,
            "micro_timestamp": sent * 1000 + src.rng.randrange(1000),  # milliseconds, as shown
            "to": number,
            "from": sender,
            "client_message_id": str(src.rng.randint(1, 99999)) if src.chance(0.5) else "",
            "job_type": job_type,
            "ring_date": ring,
            "answer_date": answer,
            "hang_date": hang,
            "actual_duration": duration,
            "billed_duration": math.ceil(duration / 60) * 60,
        }
        if code is not None:
            item.update(error_code=code, error_description=causes[code])
        if status == "DELIVRD" and src.chance(0.2):
            item["keypress"] = src.rng.choice("123456789*#") if src.chance(0.8) else src.digits(2)
        items.append(item)
    payload: dict[str, Any] = {"api_job_id": src.uuid(), "data": items}
    if src.chance(0.6):
        payload["client_job_id"] = src.reference()
    return payload
