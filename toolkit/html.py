"""HTML in, the page's text out: what a reader sees, one block per line, before the cleaner runs.

A page saved from a browser or fetched by a scraper carries a head, scripts,
styles and markup that are no part of its text. :func:`looks_like_html` tells
such input from plain text cheaply; :func:`extract` reads it with the standard
library's tokenizer (no dependency, no recursion, no network, no charset
guessing: the text is already decoded, so a ``<meta charset>`` claim is
ignored) and returns the visible text as lines, each tagged with the source
line it starts on. Invisible elements (head, script, style, templates, hidden
elements) are dropped; the text of navigation, banners, footers and asides is
returned apart as page chrome, for the wrapper language. The cleaner then
treats the body lines as it treats scraped text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

_DEFAULT_MAX_CHARS = 2_000_000  # of HTML read; pages past it are cut (their text is usually near the top)
_DEFAULT_MAX_DEPTH = 256  # open elements tracked; deeper ones only add their text
_DEFAULT_SNIFF_CHARS = 4096
_DEFAULT_MIN_TAGS = 5  # known tags in the sniffed window for markup without a doctype
_DEFAULT_CHARS_PER_TAG = 400  # and at least one tag per this many characters of it
_DEFAULT_MIN_BODY_CHARS = 200  # below this the chrome is read as body too (a page of unclosed <nav>s)
_PAGE_START = re.compile(
    r"\A(?:\ufeff)?\s*(?:<\?xml[^>]{0,200}>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>])", re.I | re.S
)
_HTML_TAG_NAMES = (
    "a|abbr|article|aside|b|blockquote|body|br|button|caption|code|dd|div|dl|dt|em|figcaption|figure|footer"
    "|form|h[1-6]|head|header|hr|html|i|iframe|img|input|label|li|link|main|meta|nav|noscript|ol|option|p"
    "|picture|pre|script|section|select|small|source|span|strong|style|sub|sup|svg|table|tbody|td|th|thead"
    "|time|title|tr|u|ul"
)
_ATTRIBUTE = r"""\s+[\w:@.-]+(?:\s*=\s*(?:"[^"<]*"|'[^'<]*'|[^\s"'<>=`]+))?"""
_KNOWN_TAG = re.compile(rf"<(?:{_HTML_TAG_NAMES})(?:{_ATTRIBUTE})*\s*/?>|</(?:{_HTML_TAG_NAMES})\s*>", re.I)
_SPACE = re.compile(r"\s+")
# A "<" that opens no tag, or one that no ">" closes before the next "<": text, as a browser shows it.
# Escaping these first keeps the tokenizer linear (it rescans the rest of the page for each unclosed
# tag) and fast (it reads a stray "<" as one piece of text at a time).
_STRAY_LT = re.compile(r"<(?:(?=[A-Za-z/!?][^<>]*(?:<|\Z))|(?![A-Za-z/!?]))")
_HIDDEN = frozenset(
    "head title script style noscript template svg math iframe object canvas select textarea datalist".split()
    + ["button"]
)
_CHROME = frozenset("nav aside footer dialog menu".split())
_CHROME_ROLES = frozenset("navigation banner contentinfo complementary search menu menubar dialog".split())
_NOTICE = re.compile(r"cookie|consent|gdpr", re.I)  # in an id or class: a cookie or consent notice
_ARTICLE = frozenset("article main".split())
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
_BLOCK = frozenset(
    "address article aside blockquote body br caption dd details dialog div dl dt fieldset figcaption figure"
    " footer form h1 h2 h3 h4 h5 h6 header hr html legend li main menu nav ol p pre section summary table"
    " tbody td tfoot th thead tr ul".split()
)


@dataclass(frozen=True)
class Block:
    """One line of a page's visible text, its source line (0-based) and what marks it as chrome, if any."""

    text: str
    line: int
    chrome: str | None = None


@dataclass
class PageText:
    """The visible text of a page as blocks in reading order, and whether the page was cut."""

    blocks: list[Block] = field(default_factory=list)
    truncated: bool = False

    @property
    def body(self) -> str:
        """The blocks outside page chrome, one per line (the cleaner's input)."""
        return "\n".join(block.text for block in self.blocks if block.chrome is None)


def looks_like_html(text: str) -> bool:
    """Whether ``text`` is HTML: a doctype or ``<html`` first, or many tags near the start.

    A plain text with a ``<`` or a short code snippet is not: without a doctype,
    the first 4,096 characters need five known tags and one per 400 characters.
    """
    head = text[:_DEFAULT_SNIFF_CHARS]
    if "<" not in head:
        return False
    if _PAGE_START.match(head):
        return True
    tags = len(_KNOWN_TAG.findall(head))
    return tags >= _DEFAULT_MIN_TAGS and tags * _DEFAULT_CHARS_PER_TAG >= len(head.strip())


def extract(text: str, max_chars: int = _DEFAULT_MAX_CHARS) -> PageText:
    """The visible text of the HTML ``text`` (its first ``max_chars`` characters) as :class:`Block` lines."""
    reader = _PageReader()
    reader.feed(_defuse(text[:max_chars]))
    reader.close()
    blocks = reader.finish()
    body_chars = sum(len(block.text) for block in blocks if block.chrome is None)
    if body_chars < _DEFAULT_MIN_BODY_CHARS and body_chars < sum(len(block.text) for block in blocks) / 2:
        blocks = [Block(block.text, block.line) for block in blocks]  # the "chrome" is all there is
    return PageText(blocks, len(text) > max_chars)


def _defuse(text: str) -> str:
    """``text`` without comments (each kept as its line breaks) and with unclosed tags escaped as text."""
    pieces, at = [], 0
    while (start := text.find("<!--", at)) >= 0:
        end = text.find("-->", start + 4)
        end = len(text) if end < 0 else end + 3  # an unclosed comment runs to the end, as in a browser
        pieces += [text[at:start], "\n" * text.count("\n", start, end)]
        at = end
    pieces.append(text[at:])
    return _STRAY_LT.sub("&lt;", "".join(pieces))


class _PageReader(HTMLParser):
    """Tokenizer callbacks that keep a bounded stack of open elements and gather the visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[
            tuple[str | None, bool]
        ] = []  # per open element: the chrome and hidden state before it
        self.names: list[str] = []  # the open elements' tags
        self.blocks: list[Block] = []
        self.pieces: list[str] = []
        self.piece_line = 0
        self.chrome: str | None = None
        self.hidden = False
        self.in_article = 0
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Open an element: break the line at a block, and note whether it hides or is chrome."""
        if tag in _BLOCK:
            self._break()
        if tag in _VOID or len(self.names) >= _DEFAULT_MAX_DEPTH:
            return
        values = dict(attrs)
        hidden = tag in _HIDDEN or "hidden" in values or values.get("aria-hidden") == "true"
        hidden = hidden or "display:none" in (values.get("style") or "").replace(" ", "").lower()
        chrome = self.chrome
        if chrome is None and not hidden:
            role = (values.get("role") or "").lower()
            if tag in _CHROME or role in _CHROME_ROLES or (tag == "header" and not self.in_article):
                chrome = f"<{tag}>" if tag in _CHROME or tag == "header" else f'role="{role}"'
            elif _NOTICE.search(f"{values.get('id') or ''} {values.get('class') or ''}"):
                chrome = "cookie notice"
        self.stack.append((self.chrome, self.hidden))
        self.names.append(tag)
        self.chrome, self.hidden = chrome, self.hidden or hidden
        self.in_article += tag in _ARTICLE
        self.pre += tag == "pre"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """A self-closed element (``<br/>``) only breaks the line."""
        if tag in _BLOCK:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        """Close ``tag`` and every element left open inside it; an end tag with no open element is ignored."""
        if tag in _BLOCK:
            self._break()
        names = self.names
        if names and names[-1] == tag:
            at = len(names) - 1
        elif tag in names:
            at = len(names) - 1 - names[::-1].index(tag)
        else:
            return
        self.chrome, self.hidden = self.stack[at]
        closed = names[at:]
        self.in_article -= sum(name in _ARTICLE for name in closed)
        self.pre -= closed.count("pre")
        del self.stack[at:], names[at:]

    def handle_data(self, data: str) -> None:
        """Visible text joins the current line; inside ``<pre>`` its line breaks are kept."""
        if self.hidden:
            return
        if not self.pieces:
            self.piece_line = self.getpos()[0] - 1
        if self.pre:
            lines = data.split("\n")
            for line in lines[:-1]:
                self.pieces.append(line)
                self._break()
            data = lines[-1]
        self.pieces.append(data)

    def _break(self) -> None:
        """End the current line, if it holds any text."""
        text = _SPACE.sub(" ", "".join(self.pieces)).strip()
        self.pieces = []
        if text:
            self.blocks.append(Block(text, self.piece_line, self.chrome))

    def finish(self) -> list[Block]:
        """The blocks read, the last line included."""
        self._break()
        return self.blocks
