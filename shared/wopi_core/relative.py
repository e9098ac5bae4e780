"""Choosing the name of a file or container that PutRelativeFile, CreateChildFile and their kin create.

Two modes, chosen by the request headers:
- suggested (X-WOPI-SuggestedTarget): an extension alone ('.pdf', applied to the source's stem) or a full
  name. The host makes it legal and picks a free variant ('report (2).docx'), so this mode never fails
  with 400 or 409.
- exact (X-WOPI-RelativeTarget): the name as given. An illegal name is a 400 and a taken one a 409.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from wopi_core.errors import BadRequest, NameTaken, WopiError
from wopi_core.models import HEADER_RELATIVE_TARGET, HEADER_SIZE, HEADER_SUGGESTED_TARGET
from wopi_core.names import MAX_NAME_LENGTH, decode_utf7, make_valid_name, split_extension
from wopi_core.storage.base import Readable

MAX_NUMBERED_VARIANTS = 1000


@dataclass(frozen=True, slots=True)
class Target:
    """The name a create operation asked for, decoded, and how strictly it must be honoured."""

    name: str
    exact: bool
    overwrite: bool = False


def parse_target(
    suggested: str | None,
    relative: str | None,
    *,
    overwrite: bool,
    source_name: str = "",
    both_error: type[WopiError] = BadRequest,
    invalid_error: type[WopiError] = BadRequest,
) -> Target:
    """Read the target headers (raw, UTF-7 encoded) into a Target.

    Raise both_error when both or neither header is present (PutRelativeFile: 400, CreateChild*: 501),
    and invalid_error when a value is not UTF-7. A suggested '.ext' keeps the stem of source_name.
    """
    if (suggested is None) == (relative is None):
        raise both_error(f"exactly one of {HEADER_SUGGESTED_TARGET} and {HEADER_RELATIVE_TARGET} is required")
    if relative is not None:
        return Target(decode_utf7(relative, HEADER_RELATIVE_TARGET, invalid_error), exact=True, overwrite=overwrite)
    assert suggested is not None
    try:
        name = decode_utf7(suggested, HEADER_SUGGESTED_TARGET)
    except BadRequest:
        # The suggested mode must not fail with 400, so text that is not valid UTF-7 is used as sent.
        name = suggested
    if name.startswith("."):
        name = split_extension(source_name)[0] + name
    return Target(make_valid_name(name), exact=False)


def numbered_variants(name: str) -> Iterator[str]:
    """Yield name, then 'stem (2).ext', 'stem (3).ext', ... each within the name length limit."""
    yield name
    stem, extension = split_extension(name)
    for number in range(2, MAX_NUMBERED_VARIANTS + 2):
        suffix = f" ({number})"
        yield stem[: MAX_NAME_LENGTH - len(suffix) - len(extension)] + suffix + extension


def first_free_name(name: str, taken: Callable[[str], bool]) -> str:
    """Return name or the first numbered variant of it for which taken() is false; raise NameTaken."""
    for candidate in numbered_variants(name):
        if not taken(candidate):
            return candidate
    raise NameTaken(f"no free variant of the name {name!r} was found")


class ExpectedSizeReader:
    """Passes a body through and raises BadRequest when it is not exactly the X-WOPI-Size it declared."""

    def __init__(self, source: Readable, expected: int | None) -> None:
        self._source = source
        self._expected = expected
        self._seen = 0

    def read(self, size: int = -1, /) -> bytes:
        chunk = self._source.read(size)
        self._seen += len(chunk)
        if self._expected is not None:
            if self._seen > self._expected or (not chunk and size != 0 and self._seen != self._expected):
                raise BadRequest(f"the body is not the {self._expected} bytes {HEADER_SIZE} declares")
        return chunk
