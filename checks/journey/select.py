"""A small CSS selector over HTML, for journey extractions (``css = "input[name=x]"``).

Enough for what a login page needs: one compound selector of a tag, ``#id``,
``.class`` and ``[attr]`` / ``[attr=value]`` parts, no combinators. The standard
library's html.parser reads the page, so no HTML library is added for a handful of
hidden inputs and links. ``parse_selector`` runs at config load and names what it
cannot read; ``select_first`` returns the first matching element's attribute or text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

_PART = re.compile(
    r"""(?P<tag>^[A-Za-z][A-Za-z0-9-]*|^\*)
      | \#(?P<id>[A-Za-z0-9_-]+)
      | \.(?P<cls>[A-Za-z0-9_-]+)
      | \[\s*(?P<attr>[A-Za-z_:][A-Za-z0-9_:.-]*)\s*
          (?:=\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\]\s"']+))\s*)?\]""",
    re.VERBOSE)
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
         "source", "track", "wbr"}


@dataclass(frozen=True, slots=True)
class Selector:
    tag: str | None
    attrs: tuple[tuple[str, str | None], ...]  # (name, value or None for presence)
    classes: tuple[str, ...]
    text: str  # as written, for messages


def parse_selector(text: str) -> Selector:
    """The selector, or ValueError saying which part is not supported."""
    source = text.strip()
    if not source:
        raise ValueError("empty CSS selector")
    tag: str | None = None
    attrs: list[tuple[str, str | None]] = []
    classes: list[str] = []
    pos = 0
    while pos < len(source):
        match = _PART.match(source, pos)
        if not match or match.end() == pos or (match.group("tag") and pos):
            raise ValueError(f"CSS selector {text!r}: cannot read {source[pos:]!r} (supported: "
                             "one element as tag#id.class[attr=value], no combinators)")
        if match.group("tag"):
            tag = None if match.group("tag") == "*" else match.group("tag").lower()
        elif match.group("id"):
            attrs.append(("id", match.group("id")))
        elif match.group("cls"):
            classes.append(match.group("cls"))
        else:
            value = next((v for v in match.group("dq", "sq", "bare") if v is not None), None)
            attrs.append((match.group("attr").lower(), value))
        pos = match.end()
    return Selector(tag, tuple(attrs), tuple(classes), source)


def select_first(html: str, selector: Selector, attr: str | None) -> str | None:
    """The ``attr`` of the first element matching ``selector`` (its text if ``attr`` is
    None), or None when no element matches or it lacks the attribute."""
    finder = _Finder(selector, attr.lower() if attr else None)
    try:
        finder.feed(html)
        finder.close()
    except _Found:
        pass
    return finder.found


class _Found(Exception):
    """Stops parsing at the first match."""


class _Finder(HTMLParser):
    def __init__(self, selector: Selector, attr: str | None) -> None:
        super().__init__(convert_charrefs=True)
        self.selector, self.attr = selector, attr
        self.found: str | None = None
        self._text: list[str] | None = None  # collecting the matched element's text
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._text is not None:
            self._depth += tag not in _VOID
            return
        if not self._matches(tag, dict(attrs)):
            return
        if self.attr is not None:
            value = dict(attrs).get(self.attr)
            if value is not None:
                self.found = value
                raise _Found
            return
        if tag in _VOID:
            self.found = ""
            raise _Found
        self._text, self._depth = [], 1

    def handle_endtag(self, tag: str) -> None:
        if self._text is None:
            return
        self._depth -= 1
        if self._depth <= 0:
            self.found = " ".join("".join(self._text).split())
            raise _Found

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def _matches(self, tag: str, attrs: dict[str, str | None]) -> bool:
        sel = self.selector
        if sel.tag is not None and tag != sel.tag:
            return False
        for name, value in sel.attrs:
            if name not in attrs or (value is not None and attrs[name] != value):
                return False
        classes = (attrs.get("class") or "").split()
        return all(cls in classes for cls in sel.classes)
