"""CorrelationMiddleware: how responses of a burst of requests leave, and what reaches the metrics observer."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, generate_latest
from starlette.types import Message, Receive, Scope, Send

from wopi_api.metrics import REQUEST_BUCKETS, RequestFigures
from wopi_api.middleware import CorrelationMiddleware


def http_scope(path: str) -> Scope:
    headers = [(b"x-wopi-correlationid", b"c-" + path.encode())]
    return {"type": "http", "method": "GET", "path": path, "headers": headers}


async def receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def recording_app(events: list[str]) -> CorrelationMiddleware:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        events.append(f"handled {scope['path']}")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    return CorrelationMiddleware(app)


def recording_send(events: list[str], path: str) -> Send:
    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            events.append(f"sent {path}")

    return send


def test_response_batch_holds_back_rest_of_burst() -> None:
    events: list[str] = []
    middleware = recording_app(events)

    async def burst() -> None:
        paths = ["/a", "/b", "/c"]
        await asyncio.gather(*(middleware(http_scope(path), receive, recording_send(events, path)) for path in paths))

    asyncio.run(burst())
    assert events == ["handled /a", "sent /a", "handled /b", "handled /c", "sent /b", "sent /c"]


def test_response_batch_sends_lone_response_at_once() -> None:
    events: list[str] = []
    middleware = recording_app(events)

    async def lone_requests() -> None:
        for path in ("/first", "/later"):
            asyncio.get_running_loop().call_soon(events.append, f"next pass after {path}")
            await middleware(http_scope(path), receive, recording_send(events, path))
            await asyncio.sleep(0)

    asyncio.run(lone_requests())
    assert events == [
        "handled /first",
        "sent /first",
        "next pass after /first",
        "handled /later",
        "sent /later",
        "next pass after /later",
    ]


def test_response_batch_ignores_a_closed_loop() -> None:
    events: list[str] = []
    middleware = recording_app(events)

    async def answer(path: str) -> None:
        await middleware(http_scope(path), receive, recording_send(events, path))

    async def answer_then_check(path: str) -> None:
        asyncio.get_running_loop().call_soon(events.append, "next pass")
        await answer(path)

    async def answer_as_the_loop_stops(path: str) -> None:
        asyncio.get_running_loop().stop()
        await answer(path)

    first_loop = asyncio.new_event_loop()
    first_loop.create_task(answer_as_the_loop_stops("/in-first-loop"))
    first_loop.run_forever()
    first_loop.close()
    asyncio.run(answer_then_check("/in-second-loop"))
    assert events[-3:] == ["handled /in-second-loop", "sent /in-second-loop", "next pass"]


def test_observer_gets_operation_status_headers() -> None:
    seen: list[tuple[str, int, dict[bytes, bytes]]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope["wopi.log"]["operation"] = "GetLock"
        await send({"type": "http.response.start", "status": 409, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = CorrelationMiddleware(app, observe=lambda op, status, headers, _: seen.append((op, status, headers)))
    asyncio.run(middleware(http_scope("/wopi/files/f"), receive, recording_send([], "/wopi/files/f")))
    assert seen == [("GetLock", 409, {b"x-wopi-correlationid": b"c-/wopi/files/f"})]


def test_duration_ends_at_last_response_byte() -> None:
    seen: list[float] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"saved"})
        await asyncio.sleep(0.2)

    middleware = CorrelationMiddleware(app, observe=lambda op, status, headers, seconds: seen.append(seconds))
    asyncio.run(middleware(http_scope("/wopi/files/f/contents"), receive, recording_send([], "/contents")))
    assert len(seen) == 1
    assert seen[0] < 0.1


def test_request_figures_count_and_bucket() -> None:
    figures = RequestFigures(REQUEST_BUCKETS)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(figures)
    labels = ("CheckFileInfo", "200", "validator")
    for seconds in (0.001, REQUEST_BUCKETS[0], 0.02, 100.0):
        figures.observe(labels, seconds)
    figures.observe(("PutFile", "409", "other"), 0.5)
    text = generate_latest(registry).decode()
    series = 'client="validator",operation="CheckFileInfo",status="200"'

    def bucket(bound: str) -> str:
        labels = f'client="validator",le="{bound}",operation="CheckFileInfo",status="200"'
        return f"wopi_request_duration_seconds_bucket{{{labels}}}"

    assert f"wopi_requests_total{{{series}}} 4.0" in text
    assert f"{bucket('0.005')} 2.0" in text
    assert f"{bucket('0.025')} 3.0" in text
    assert f"{bucket('60.0')} 3.0" in text
    assert f"{bucket('+Inf')} 4.0" in text
    assert f"wopi_request_duration_seconds_count{{{series}}} 4.0" in text
    assert f"wopi_request_duration_seconds_sum{{{series}}} 100.026" in text
    assert 'wopi_requests_total{client="other",operation="PutFile",status="409"} 1.0' in text
