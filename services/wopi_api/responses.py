"""Response classes shared by the routes."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class FastJSONResponse(JSONResponse):
    """JSON rendered by orjson: several times faster than the standard library for CheckFileInfo bodies.

    orjson writes UTF-8 without escaping non-ASCII text, so file names such as '東京.docx' go out as is.
    """

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
