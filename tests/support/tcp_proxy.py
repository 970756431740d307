"""A TCP proxy the test controls, to make a database server slow or unreachable for one
chargeledger server while the database itself stays up for everyone else.

`freeze()` stops forwarding in both directions (connections stay open, as with a server that
hangs or a network that drops packets); `thaw()` forwards again. `close()` closes the listening
port and every connection: a database that is down.
"""

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import make_url


class TcpProxy:
    """Runs on its own event loop in a thread, so it forwards while the test blocks."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._thawed: asyncio.Event | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def _run(self, coroutine: "asyncio.Future[object] | object") -> object:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)  # type: ignore[arg-type]

    def start(self) -> "TcpProxy":
        self._thread.start()
        self._run(self._start())
        return self

    async def _start(self) -> None:
        self._thawed = asyncio.Event()
        self._thawed.set()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        assert self._thawed is not None
        self._writers.add(client)
        await self._thawed.wait()
        try:
            upstream_reader, upstream = await asyncio.open_connection(
                self.target_host, self.target_port
            )
        except OSError:
            client.close()
            return
        self._writers.add(upstream)
        for reader, writer in ((client_reader, upstream), (upstream_reader, client)):
            task = asyncio.create_task(self._pipe(reader, writer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._thawed is not None
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                await self._thawed.wait()  # frozen: hold what came in, send nothing on
                writer.write(data)
                await writer.drain()
        writer.close()

    def freeze(self) -> None:
        self._run(self._set_thawed(False))

    def thaw(self) -> None:
        self._run(self._set_thawed(True))

    async def _set_thawed(self, thawed: bool) -> None:
        assert self._thawed is not None
        if thawed:
            self._thawed.set()
        else:
            self._thawed.clear()

    def close(self) -> None:
        """Refuse new connections and drop the open ones."""
        if self._thread.is_alive():
            self._run(self._close())

    async def _close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()
        if server is not None:
            await server.wait_closed()

    def stop(self) -> None:
        self.close()
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)


@contextmanager
def tcp_proxy(target_host: str, target_port: int) -> Iterator[TcpProxy]:
    proxy = TcpProxy(target_host, target_port).start()
    try:
        yield proxy
    finally:
        proxy.stop()


def database_target(url: str) -> tuple[str, int]:
    """Host and port of a PostgreSQL URL."""
    parsed = make_url(url)
    return parsed.host or "127.0.0.1", parsed.port or 5432


def through(proxy: TcpProxy, url: str) -> str:
    """The same PostgreSQL URL, reaching its server through the proxy."""
    parsed = make_url(url).set(host="127.0.0.1", port=proxy.port)
    return parsed.render_as_string(hide_password=False)
