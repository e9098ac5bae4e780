"""A blocking reader over an ASGI request body, for storage code running in a worker thread."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio.from_thread
from starlette.requests import Request


class RequestBodyReader:
    """Gives storage backends a ``read(size)`` over the request stream without buffering it whole.

    It must be used from a thread started by ``run_in_threadpool``: each read hands control back to
    the event loop to receive the next chunk. A client that disconnects mid-upload makes ``read``
    raise, which aborts the storage write and keeps the previous version.
    """

    def __init__(self, request: Request) -> None:
        self._chunks: AsyncIterator[bytes] = request.stream().__aiter__()
        self._buffer = bytearray()
        self._finished = False

    def read(self, size: int = -1, /) -> bytes:
        while not self._finished and (size < 0 or len(self._buffer) < size):
            try:
                chunk = anyio.from_thread.run(self._next_chunk)
            except StopAsyncIteration:
                self._finished = True
                break
            self._buffer += chunk
        if size < 0 or size >= len(self._buffer):
            data = bytes(self._buffer)
            self._buffer.clear()
            return data
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    async def _next_chunk(self) -> bytes:
        return await self._chunks.__anext__()
