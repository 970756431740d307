"""The `ocpp` package talks to a connection with `recv()` and `send()`; this gives it the
Starlette WebSocket the app accepted."""

from starlette.websockets import WebSocket, WebSocketDisconnect


class ChargerDisconnectedError(Exception):
    pass


class StarletteConnection:
    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket

    async def recv(self) -> str:
        message = await self.websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise ChargerDisconnectedError(message.get("code"))
        text = message.get("text")
        if text is None:
            # OCPP-J frames are text; a binary frame gets decoded, and if it is not UTF-8 the
            # charge point is answered with a CALLERROR like any other malformed frame.
            data: bytes = message.get("bytes") or b""
            return data.decode("utf-8", errors="replace")
        return str(text)

    async def send(self, message: str) -> None:
        try:
            await self.websocket.send_text(message)
        except (WebSocketDisconnect, RuntimeError) as error:
            raise ChargerDisconnectedError(str(error)) from None
