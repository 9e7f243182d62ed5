"""Fake requests and answers of the programmable Connect applet."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..domain import payloads
from ..numbers import national
from .source import _Source


def _gen_connect_applet_request(src: _Source) -> dict[str, Any]:
    start = src.moment().timestamp()
    ivr = src.rng.randint(1, 20)
    call_sid, caller, vn = src.call_sid(), src.mobile(), src.landline()
    current, dialled, dial_duration = start + ivr, None, 0
    if src.chance(0.3):
        # With fetch_after_attempt, the request after an unsuccessful attempt names it.
        dial_duration = src.rng.randint(0, 45)
        dialled = src.mobile()
        current = start + ivr + dial_duration + 1
    return payloads.connect_applet_request(
        call_sid=call_sid, caller=caller, vn=vn, start=start, current=current,
        dial_call_duration=dial_duration, dialled=dialled,
    )


def _gen_connect_applet_response(src: _Source) -> dict[str, Any]:
    destinations: list[dict[str, str]] = []
    for number in src.mobiles(src.rng.randint(1, 4)):
        destinations.append({"contact_uri": number})
    if src.chance(0.2):
        user = re.sub(r"[^A-Za-z0-9._~-]", "", src.faker.user_name()) or "agent"
        destinations.insert(
            src.rng.randrange(len(destinations) + 1), {"contact_uri": f"sip:{user}"}
        )
    payload: dict[str, Any] = {"destination": destinations}
    optional: dict[str, Callable[[], Any]] = {
        "fetch_after_attempt": lambda: src.chance(0.3),
        "state_management": lambda: src.chance(0.5),
        "outgoing_phone_number": lambda: national(src.landline())[1:],
        "sticky_agent": lambda: src.chance(0.3),
        "recording": lambda: {
            "record": src.chance(0.8),
            "channels": "dual" if src.chance(0.3) else "single",
        },
        "max_ringing_duration": lambda: src.rng.choice((15, 20, 30, 45, 60)),
        "max_conversation_duration": lambda: src.rng.choice((300, 600, 900, 1800, 3600, 14400)),
        "music_on_hold": lambda: (
            {"type": "default_tone"}
            if src.chance(0.7)
            else {"type": "url", "value": src.url("/hold-music.mp3")}
        ),
        "parallel_ringing": lambda: (
            {"activate": True, "max_parallel_attempts": src.rng.randint(1, len(destinations))}
            if len(destinations) > 1 and src.chance(0.6)
            else {"activate": False}
        ),
        "call_event_passthru_url": lambda: src.url("/exotel/call-events"),
        "start_call_playback": lambda: (
            {"type": "text", "value": f"You have a call from a customer of {src.faker.company()}."}
            if src.chance(0.7)
            else {"type": "audio_url", "value": src.url("/greeting.wav")}
        ),
    }
    for name, make in optional.items():
        if src.chance(0.7):
            payload[name] = make()
    return payload
