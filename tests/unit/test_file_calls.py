"""The file-call table: what it matches, that its routes agree with it, and how its middleware responds."""

from __future__ import annotations

import asyncio

import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Match
from starlette.types import Message, Receive, Scope, Send

from wopi_api.file_calls import FILE_HANDLERS, FileCallMiddleware, Handler, file_routes, match_file_call
from wopi_api.routes import files, overrides
from wopi_core.errors import FileNotFound


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        pytest.param("GET", "/wopi/files/f1", (files.check_file_info, "f1"), id="check-file-info"),
        pytest.param("POST", "/wopi/files/f1", (overrides.file_override, "f1"), id="override"),
        pytest.param("GET", "/wopi/files/f1/contents", (files.get_file, "f1"), id="get-file"),
        pytest.param("POST", "/wopi/files/f1/contents", (files.put_file, "f1"), id="put-file"),
        pytest.param("GET", "/wopi/files/東京 1", (files.check_file_info, "東京 1"), id="decoded-id"),
        pytest.param("HEAD", "/wopi/files/f1", None, id="head"),
        pytest.param("PUT", "/wopi/files/f1", None, id="other-method"),
        pytest.param("GET", "/wopi/files/f1/", None, id="trailing-slash"),
        pytest.param("GET", "/wopi/files/", None, id="no-id"),
        pytest.param("GET", "/wopi/files//contents", None, id="empty-id"),
        pytest.param("GET", "/wopi/files/f1/contents/x", None, id="below-contents"),
        pytest.param("GET", "/wopi/files/f1/ancestry", None, id="other-suffix"),
        pytest.param("GET", "/wopi/filesf1", None, id="no-slash"),
        pytest.param("GET", "/wopi/containers/c1", None, id="container"),
    ],
)
def test_match_file_call(method: str, path: str, expected: tuple[Handler, str] | None) -> None:
    assert match_file_call(FILE_HANDLERS, method, path) == expected


@pytest.mark.parametrize("path", ["/wopi/files/f1", "/wopi/files/f1/contents", "/wopi/files/f1/", "/wopi/files/a/b"])
@pytest.mark.parametrize("method", ["GET", "POST", "PUT"])
def test_file_routes_match_the_table(method: str, path: str) -> None:
    scope: Scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    full = [
        (route.endpoint, params["path_params"]["file_id"])
        for route in file_routes()
        for match, params in [route.matches(scope)]
        if match is Match.FULL
    ]
    found = match_file_call(FILE_HANDLERS, method, path)
    assert full == ([found] if found else [])


def passed_on(events: list[str]) -> FileCallMiddleware:
    async def starlette_app(scope: Scope, receive: Receive, send: Send) -> None:
        events.append(f"passed on {scope['method']} {scope['path']}")
        await PlainTextResponse("routed")(scope, receive, send)

    async def found(request: Request) -> Response:
        return PlainTextResponse(f"found {request.path_params['file_id']}")

    async def missing(request: Request) -> Response:
        raise FileNotFound("no such file")

    async def broken(request: Request) -> Response:
        raise RuntimeError("unexpected")

    handlers: dict[tuple[str, str], Handler] = {("GET", ""): found, ("POST", ""): missing, ("GET", "/contents"): broken}
    return FileCallMiddleware(starlette_app, handlers)


def call(app: FileCallMiddleware, method: str, path: str, root_path: str = "") -> list[Message]:
    sent: list[Message] = []
    scope: Scope = {"type": "http", "method": method, "path": path, "root_path": root_path, "headers": []}

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def test_file_call_reaches_its_handler() -> None:
    events: list[str] = []
    sent = call(passed_on(events), "GET", "/wopi/files/f9")
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == b"found f9"
    assert events == []


def test_file_call_renders_wopi_error() -> None:
    sent = call(passed_on([]), "POST", "/wopi/files/f9")
    assert sent[0]["status"] == 404
    assert (b"x-wopi-servererror", b"no such file") in sent[0]["headers"]


def test_file_call_propagates_unexpected_error() -> None:
    with pytest.raises(RuntimeError, match="unexpected"):
        call(passed_on([]), "GET", "/wopi/files/f9/contents")


@pytest.mark.parametrize(
    ("method", "path", "root_path"),
    [("HEAD", "/wopi/files/f9", ""), ("GET", "/healthz", ""), ("GET", "/prefix/wopi/files/f9", "/prefix")],
)
def test_other_requests_go_to_router(method: str, path: str, root_path: str) -> None:
    events: list[str] = []
    sent = call(passed_on(events), method, path, root_path)
    assert events == [f"passed on {method} {path}"]
    assert sent[1]["body"] == b"routed"
