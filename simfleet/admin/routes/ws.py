"""The WebSocket ``/ws``: decoded events of the fleet, fanned out by the hub.

Host, Origin and token are checked before the upgrade, by the guard (``simfleet.admin.guard``).
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from simfleet.admin.hub import Client
from simfleet.admin.routes.deps import AdminDep

__all__ = ["router"]

router = APIRouter()


@router.websocket("/ws")
async def ws(websocket: WebSocket, admin: AdminDep) -> None:
    """Subscribe to streams by glob; the hub pumps their events, pings and drops the silent."""
    await websocket.accept()
    gone: list[Client] = []

    async def send(text: str) -> None:
        try:
            await websocket.send_text(text)
        except (WebSocketDisconnect, RuntimeError, OSError):
            for c in gone:
                admin.hub.disconnect(c)  # the peer left mid-send: stop pumping

    async def close() -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await websocket.close(code=1001, reason="no pong for too long")

    client = admin.hub.connect(send, close)
    gone.append(client)
    sender = asyncio.create_task(admin.hub.pump(client))
    try:
        while not client.closed:
            admin.hub.received(client, await websocket.receive_text())
    except (WebSocketDisconnect, RuntimeError, KeyError):
        pass  # the client left, was dropped as stale, or sent a binary frame
    finally:
        admin.hub.disconnect(client)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await sender
