"""Rules for file names that every storage backend and WOPI operation applies the same way."""

from __future__ import annotations

from wopi_core.errors import InvalidFileName

FORBIDDEN_CHARACTERS = frozenset('\\/:*?"<>|')
MAX_NAME_LENGTH = 255


def check_file_name(name: str) -> None:
    """Raise InvalidFileName when name cannot be stored: empty, too long, a path, or a forbidden character."""
    if not name or not name.strip():
        raise InvalidFileName("the file name is empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidFileName(f"the file name is longer than {MAX_NAME_LENGTH} characters")
    if name in (".", "..") or name.startswith("."):
        raise InvalidFileName("the file name must not start with a dot")
    bad = sorted({c for c in name if c in FORBIDDEN_CHARACTERS or ord(c) < 32})
    if bad:
        shown = " ".join(repr(c) for c in bad)
        raise InvalidFileName(f"the file name contains characters that are not allowed: {shown}")


def split_extension(name: str) -> tuple[str, str]:
    """Split name into stem and extension with its dot ('report.docx' -> ('report', '.docx'))."""
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        return name, ""
    return stem, "." + extension
