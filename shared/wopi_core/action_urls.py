"""Action URLs: fill a discovery action's urlsrc template for one file and pass on host page parameters."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote, unquote_plus

# A bracketed optional parameter such as `<ui=UI_LLCC&>` or `<wopisrc=WOPI_SOURCE>`.
_PLACEHOLDER_ITEM = re.compile(r"<([^<>=]*)=([^<>&]*)(&?)>")
_LEFTOVER_BRACKETS = re.compile(r"<[^<>]*>|[<>]")


def resolve_action_url(
    urlsrc: str,
    wopi_src: str,
    *,
    ui_language: str | None = None,
    data_language: str | None = None,
    business_user: bool = False,
    session_context: str | None = None,
    host_session_id: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> str:
    """Fill a urlsrc template into the action URL a host page loads.

    Each bracketed item `<name=PLACEHOLDER&>` becomes `name=value&` when the placeholder has a value (URL-encoded)
    and disappears otherwise, so unknown placeholders always go. `extra` gives values for other placeholders
    by name (for example {"DISABLE_CHAT": "1"}); the named arguments take precedence over it. A template without
    a WOPI_SOURCE placeholder gets `WOPISrc=<encoded>` appended. Empty query items are dropped, so no `?&`, `&&`
    or trailing `&` is left.
    """
    if not wopi_src:
        raise ValueError("wopi_src must not be empty")
    values = {name.upper(): value for name, value in (extra or {}).items() if value}
    named = {
        "WOPI_SOURCE": wopi_src,
        "UI_LLCC": ui_language,
        "DC_LLCC": data_language,
        "BUSINESS_USER": "1" if business_user else None,
        "SESSION_CONTEXT": session_context,
        "HOST_SESSION_ID": host_session_id,
    }
    values.update({name: value for name, value in named.items() if value})
    has_wopi_source = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal has_wopi_source
        parameter, placeholder, ampersand = match.group(1).strip(), match.group(2).strip(), match.group(3)
        has_wopi_source = has_wopi_source or placeholder == "WOPI_SOURCE"
        value = values.get(placeholder)
        if not value or not parameter:
            return ""
        return f"{parameter}={quote(value, safe='')}{ampersand}"

    filled = _LEFTOVER_BRACKETS.sub("", _PLACEHOLDER_ITEM.sub(substitute, urlsrc))
    appended = [] if has_wopi_source else [f"WOPISrc={quote(wopi_src, safe='')}"]
    return _append_query(filled, appended)


def forward_wd_params(action_url: str, host_page_query: str) -> str:
    """Append the host page's `wd*` query parameters to an action URL, byte for byte as they arrived.

    `host_page_query` is the raw query string of the host page request (with or without the leading `?`).
    """
    items = [
        item
        for item in host_page_query.removeprefix("?").split("&")
        if item and unquote_plus(item.split("=", 1)[0]).startswith("wd")
    ]
    return _append_query(action_url, items)


def _append_query(url: str, items: list[str]) -> str:
    """Add query items to a URL and rebuild its query without empty items."""
    base, hash_mark, fragment = url.partition("#")
    path, _, query = base.partition("?")
    parts = [part for part in query.split("&") if part] + items
    rebuilt = path + ("?" + "&".join(parts) if parts else "")
    return rebuilt + hash_mark + fragment
