"""A callback receiver for the outbox benchmark, as a plain ASGI app (run by uvicorn).

- `POST /ok`: answers 200 at once;
- `POST /drip`: answers 200 with a body that comes one byte every 2 s (a receiver that is stuck);
- `POST /hold`: before `POST /release`, held without an answer (and not counted); after it,
  answers 200 at once;
- `GET /stats`: when each delivery first arrived (wall-clock seconds), by path.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

Scope = dict[str, Any]

arrivals: dict[str, dict[str, float]] = {"/ok": {}, "/drip": {}, "/hold": {}}
requests = {"count": 0}
released = asyncio.Event()


async def _read(receive: Any) -> None:
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)


async def _answer(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    await _read(receive)
    if path == "/stats":
        await _answer(send, 200, json.dumps({"arrivals": arrivals, **requests}).encode())
        return
    if path == "/release":
        released.set()
        await _answer(send, 200, b"{}")
        return
    if path not in arrivals:
        await _answer(send, 404, b"{}")
        return
    requests["count"] += 1
    headers = dict(scope["headers"])
    delivery = headers.get(b"x-exomock-delivery", b"").decode()
    if path == "/hold" and not released.is_set():
        # Held, and not counted: only what is answered after the release counts.
        await released.wait()
        await _answer(send, 503, b"{}")
        return
    arrivals[path].setdefault(delivery, time.time())
    if path == "/drip":
        body = b"x" * 1000
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        for i in range(len(body)):
            await asyncio.sleep(2)
            await send({"type": "http.response.body", "body": body[i:i + 1],
                        "more_body": i + 1 < len(body)})
        return
    await _answer(send, 200, b"{}")
