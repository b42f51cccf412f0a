"""JSON lines made by the database, turned into exactly what ``json.dumps(…, separators=(",",
":"))`` writes for the same values — a page at a time, Python touching only what differs.

The databases quote strings as ``json`` does but leave non-ASCII characters and DEL as they
are (``json`` escapes them, ``\\u00e9``); those are escaped here, page-wide. Numbers come
as the database stores them: SQLite the text ``json.dumps`` wrote, PostgreSQL ``jsonb``'s
``numeric`` text (``1e-05`` reads back as ``0.00001``). Only the custom attributes hold
numbers, and only those with a decimal point can differ (``numeric`` writes no exponent,
SQLite keeps ``json.dumps``'s text), so the database hands over the page's custom
attributes that have a ``.``; every number there whose text is not the one ``json`` writes
for it, and any escape ``json`` never writes (``\\/``, upper-case hex), sends its line
through ``json.loads``/``json.dumps`` — Python reads no more of a page than that (a regular
expression over every byte would cost a third of the export; docs/performance.md, "Export
speed, fourth pass").
"""

import json
import re

_NOT_ASCII = re.compile("[\x7f-\U0010ffff]")
# A number where JSON holds one (after ``:``, ``,`` or ``[`` and maybe a blank, before ``,``,
# ``}`` or ``]``); the same shape inside a string only costs that line the slow path.
_NUMBER = re.compile(r"[:,\[] ?(-?\d[\d.eE+-]*)(?=[,}\]])")
_ODD_ESCAPE = re.compile(r"\\(?:/|u[0-9a-f]{0,3}[A-F])")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 | code >> 10:04x}\\u{0xDC00 | code & 0x3FF:04x}"


def _as_json_writes(token: str) -> bool:
    """Whether ``json`` writes the number read from ``token`` as ``token``."""
    try:
        if any(mark in token for mark in ".eE"):
            return repr(float(token)) == token
        return str(int(token)) == token
    except ValueError:
        return False


def _redone(line: str) -> str:
    return json.dumps(json.loads(line), separators=(",", ":"))


def as_json_dumps(page: str, decimals: str = "") -> str:
    """``page`` (JSON lines, each ending with a line feed) as ``json.dumps`` writes them;
    ``decimals``: the page's custom attributes (JSON text) that hold a ``.``."""
    if not page.isascii() or "\x7f" in page:
        page = _NOT_ASCII.sub(_escape, page)
    odd = {token for token in set(_NUMBER.findall(decimals)) if not _as_json_writes(token)}
    if not odd and (page.find("\\") < 0 or not _ODD_ESCAPE.search(page)):
        return page
    lines = page.split("\n")
    for n, line in enumerate(lines):
        if _ODD_ESCAPE.search(line) or any(token in line for token in odd):
            lines[n] = _redone(line)
    return "\n".join(lines)
