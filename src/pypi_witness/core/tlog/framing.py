"""Framed text: the line-and-block layout of evidence and gossip messages.

A framed object is a sequence of items, each either

* a line: ``<keyword> <value>\\n`` (ASCII keyword, UTF-8 value without newline), or
* a block: ``<keyword> <n>\\n`` followed by exactly ``n`` raw bytes (a signed
  note, an evidence text...), so embedded content never needs escaping and a
  reader never has to guess where it ends.

Numbers are ASCII decimal without leading zeros; hashes are canonical base64.
Every reading method raises ``MalformedError`` (via the ``error`` class given to
the reader) with a message naming what was expected, so that any byte string
either parses to exactly one object or is refused; writing then reading gives
the same bytes back.
"""

from __future__ import annotations

import re

from pypi_witness.core.tlog.note import decode_base64, encode_base64
from pypi_witness.core.errors import MalformedError, NoteError, quoted

_DECIMAL = re.compile(rb"0|[1-9][0-9]{0,18}")
MAX_INT = 2**63 - 1


class FrameWriter:
    """Accumulates lines and blocks; ``bytes()`` gives the framed result."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def line(self, keyword: str, value: str = "") -> FrameWriter:
        """Add ``keyword value\\n`` (or ``keyword\\n`` for an empty value)."""
        text = f"{keyword} {value}\n" if value else f"{keyword}\n"
        self._parts.append(text.encode("utf-8"))
        return self

    def number(self, keyword: str, value: int) -> FrameWriter:
        """Add ``keyword <decimal>\\n``."""
        return self.line(keyword, str(value))

    def hash(self, keyword: str, value: bytes) -> FrameWriter:
        """Add ``keyword <base64>\\n``."""
        return self.line(keyword, encode_base64(value))

    def block(self, keyword: str, data: bytes) -> FrameWriter:
        """Add ``keyword <len>\\n`` and the bytes themselves."""
        self._parts.append(f"{keyword} {len(data)}\n".encode("ascii"))
        self._parts.append(bytes(data))
        return self

    def __bytes__(self) -> bytes:
        return b"".join(self._parts)


class FrameReader:
    """Reads items from framed bytes in order; every method refuses what it does not expect.

    ``error`` is the MalformedError subclass raised, ``what`` names the object
    in messages ("evidence", "gossip message").
    """

    def __init__(self, data: bytes, what: str, error: type[MalformedError] = MalformedError) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise error(f"{what} must be bytes, not {type(data).__name__}")
        self._data = bytes(data)
        self._pos = 0
        self._what = what
        self._error = error

    def fail(self, message: str) -> MalformedError:
        """The error to raise for ``message``, naming the object and the offset."""
        return self._error(f"{self._what}: {message} (at byte {self._pos})")

    def _raw_line(self) -> bytes:
        end = self._data.find(b"\n", self._pos)
        if end < 0:
            raise self.fail("missing a final newline")
        line = self._data[self._pos : end]
        self._pos = end + 1
        return line

    def line(self, keyword: str) -> str:
        """Read ``keyword value\\n`` and return the value (UTF-8, no control characters)."""
        start = self._pos
        raw = self._raw_line()
        prefix = keyword.encode("ascii") + b" "
        if not raw.startswith(prefix) or len(raw) == len(prefix):
            self._pos = start
            raise self.fail(f"expected a {quoted(keyword)} line, got {quoted(raw)}")
        try:
            value = raw[len(prefix) :].decode("utf-8")
        except UnicodeDecodeError:
            self._pos = start
            raise self.fail(f"the {quoted(keyword)} line is not valid UTF-8") from None
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
            self._pos = start
            raise self.fail(f"the {quoted(keyword)} line holds a control character")
        return value

    def bare(self, keyword: str) -> None:
        """Read the line ``keyword\\n`` exactly."""
        start = self._pos
        raw = self._raw_line()
        if raw != keyword.encode("ascii"):
            self._pos = start
            raise self.fail(f"expected {quoted(keyword)}, got {quoted(raw)}")

    def number(self, keyword: str, maximum: int = MAX_INT) -> int:
        """Read ``keyword <decimal>\\n``: no sign, no leading zeros, at most ``maximum``."""
        value = self.line(keyword)
        if _DECIMAL.fullmatch(value.encode("ascii", "replace")) is None or int(value) > maximum:
            raise self.fail(f"the {quoted(keyword)} value is not a decimal in 0..{maximum}: {quoted(value)}")
        return int(value)

    def hash(self, keyword: str) -> bytes:
        """Read ``keyword <base64 of 32 bytes>\\n``."""
        value = self.line(keyword)
        try:
            raw = decode_base64(value, keyword)
        except NoteError as exc:
            raise self.fail(str(exc)) from None
        if len(raw) != 32:
            raise self.fail(f"the {quoted(keyword)} hash is {len(raw)} bytes, not 32")
        return raw

    def block(self, keyword: str, maximum: int) -> bytes:
        """Read ``keyword <n>\\n`` and then ``n`` bytes (n at most ``maximum``)."""
        size = self.number(keyword, maximum)
        end = self._pos + size
        if end > len(self._data):
            raise self.fail(f"the {quoted(keyword)} block is cut short ({len(self._data) - self._pos} of {size} bytes)")
        data = self._data[self._pos : end]
        self._pos = end
        return data

    def at_end(self) -> bool:
        """True when every byte has been read."""
        return self._pos == len(self._data)

    def end(self) -> None:
        """Refuse anything left over."""
        if not self.at_end():
            raise self.fail(f"{len(self._data) - self._pos} unexpected bytes after the end")
