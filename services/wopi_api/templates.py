"""HTML pages rendered from string.Template files in the package's templates/ folder.

Every value is HTML-escaped here, quotes included, so a template may place it in text or in an attribute.
Values that are already markup go through `markup` and are inserted unchanged.
"""

from __future__ import annotations

import html
import string
from functools import cache
from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


class Markup(str):
    """A string of HTML built by the host itself, inserted into a template without escaping."""


@cache
def load_template(name: str) -> string.Template:
    text = (TEMPLATE_DIR / name).read_text(encoding="utf-8")
    return string.Template(text)


def render(name: str, **values: str | int) -> str:
    """Fill a template; raise KeyError when it names a value that was not given."""
    escaped = {key: value if isinstance(value, Markup) else html.escape(str(value)) for key, value in values.items()}
    return load_template(name).substitute(escaped)


def markup(text: str) -> Markup:
    return Markup(text)
