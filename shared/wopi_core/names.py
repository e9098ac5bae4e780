"""Rules for file and container names that every storage backend and WOPI operation applies the same way.

WOPI sends target names UTF-7 encoded (X-WOPI-SuggestedTarget, X-WOPI-RelativeTarget,
X-WOPI-RequestedName) and expects X-WOPI-ValidRelativeTarget back in UTF-7, so names with any
Unicode character pass through HTTP headers as ASCII.
"""

from __future__ import annotations

from wopi_core.errors import BadRequest, InvalidContainerName, InvalidFileName, WopiError

FORBIDDEN_CHARACTERS = frozenset('\\/:*?"<>|')
MAX_NAME_LENGTH = 255
REPLACEMENT_CHARACTER = "_"


def check_file_name(name: str) -> None:
    """Raise InvalidFileName when name cannot be stored: empty, too long, a path, or a forbidden character."""
    problem = name_problem(name)
    if problem:
        raise InvalidFileName(f"the file name {problem}")


def check_container_name(name: str) -> None:
    """Raise InvalidContainerName when a container cannot carry name (same rules as file names)."""
    problem = name_problem(name)
    if problem:
        raise InvalidContainerName(f"the container name {problem}")


def name_problem(name: str) -> str:
    """Return why name is not allowed (for a message), or "" when it is fine."""
    if not name or not name.strip():
        return "is empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"is longer than {MAX_NAME_LENGTH} characters"
    if name.startswith("."):
        return "must not start with a dot"
    bad = sorted({c for c in name if c in FORBIDDEN_CHARACTERS or ord(c) < 32})
    if bad:
        shown = " ".join(repr(c) for c in bad)
        return f"contains characters that are not allowed: {shown}"
    return ""


def make_valid_name(name: str, *, fallback: str = "Untitled") -> str:
    """Turn any text into an allowed name: forbidden characters replaced, edges trimmed, length capped.

    The extension is kept whole when the name must be shortened.
    """
    cleaned = "".join(REPLACEMENT_CHARACTER if c in FORBIDDEN_CHARACTERS or ord(c) < 32 else c for c in name)
    cleaned = cleaned.strip().lstrip(".").strip()
    stem, extension = split_extension(cleaned)
    if not stem.strip():
        stem = fallback
    if len(extension) > MAX_NAME_LENGTH // 2:
        extension = extension[: MAX_NAME_LENGTH // 2]
    stem = stem[: MAX_NAME_LENGTH - len(extension)].rstrip() or fallback
    return stem + extension


def split_extension(name: str) -> tuple[str, str]:
    """Split name into stem and extension with its dot ('report.docx' -> ('report', '.docx'))."""
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        return name, ""
    return stem, "." + extension


def decode_utf7(raw: str, header: str, error: type[WopiError] = BadRequest) -> str:
    """Decode a UTF-7 header value, as HTTP delivered it (Latin-1 text); raise error (400) if it is not UTF-7."""
    try:
        return raw.encode("latin-1").decode("utf-7")
    except (UnicodeEncodeError, UnicodeDecodeError) as exc:
        raise error(f"{header} is not valid UTF-7") from exc


def encode_utf7(name: str) -> str:
    """Encode name as UTF-7, the ASCII form WOPI response headers such as X-WOPI-ValidRelativeTarget take."""
    return name.encode("utf-7").decode("ascii")


def same_name(first: str, second: str) -> bool:
    """Tell whether two names collide in one container: names compare without regard to case."""
    return first.casefold() == second.casefold()
