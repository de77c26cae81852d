"""A TCP proxy on 127.0.0.1 that a test can break: forward, refuse (down) or swallow (hung).

Runs in a thread with its own event loop, so that it keeps working while a test's own loop is blocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from typing import Any, Literal

__all__ = ["HungServer", "TcpProxy"]

Mode = Literal["forward", "down", "hung"]


class TcpProxy:
    """``with TcpProxy(host, port) as proxy``: ``proxy.port`` forwards to (host, port) until ``set_mode``.

    ``down`` closes every connection and refuses new ones; ``hung`` stops forwarding in both directions
    and accepts new connections without ever answering."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.mode: Mode = "forward"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._forwarding: asyncio.Event | None = None
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def __exit__(self, *exc: object) -> None:
        self._call(self._close_all())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def set_mode(self, mode: Mode) -> None:
        self._call(self._switch(mode))

    def reopen(self) -> None:
        """Forward again (after ``down``, listen again on the same port)."""
        self.mode = "forward"
        if self._server is None:
            self._call(self._listen())

    def _call(self, coro: object) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)  # type: ignore[arg-type]

    async def _listen(self) -> None:
        if self._forwarding is None:
            self._forwarding = asyncio.Event()
        self._switch_event()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    def _switch_event(self) -> None:
        assert self._forwarding is not None
        if self.mode == "forward":
            self._forwarding.set()
        else:
            self._forwarding.clear()

    async def _switch(self, mode: Mode) -> None:
        self.mode = mode
        self._switch_event()
        if mode == "down":
            await self._close_all()

    async def _close_all(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        tasks = [task for task in self._tasks if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        assert task is not None and self._forwarding is not None
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        with contextlib.suppress(asyncio.CancelledError):
            await self._forwarding.wait()  # hung: hold the connection, say nothing
        if self.mode != "forward":
            return
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers.add(up_writer)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.ensure_future(self._pipe(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await src.read(65536):
                assert self._forwarding is not None
                await self._forwarding.wait()
                dst.write(data)
                await dst.drain()
            dst.close()


class HungServer(TcpProxy):
    """A server that accepts connections and never answers (a hung Redis or database)."""

    def __init__(self) -> None:
        super().__init__("127.0.0.1", 9)
        self.mode = "hung"
