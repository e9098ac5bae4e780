"""The baseline for the request-rate figures: a Starlette app that returns, for every GET, one fixed JSON body.

The body has the size and shape of a typical CheckFileInfo response, so that the host and the baseline send
comparable bytes and the ratio between them measures the work the host does per request.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

BODY = {
    "BaseFileName": "benchmark.docx",
    "OwnerId": "bench-owner",
    "Size": 10485760,
    "UserId": "bench-user",
    "Version": "0123456789abcdef0123456789abcdef",
    "SHA256": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
    "UserFriendlyName": "Benchmark User",
    "SupportsLocks": True,
    "SupportsGetLock": True,
    "SupportsUpdate": True,
    "SupportsExtendedLockLength": True,
    "UserCanWrite": True,
    "ReadOnly": False,
    "LastModifiedTime": "2024-01-01T00:00:00.0000000Z",
}


async def fixed_json(request: Request) -> Response:
    return JSONResponse(BODY)


app = Starlette(routes=[Route("/{path:path}", fixed_json, methods=["GET"])])
