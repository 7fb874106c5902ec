"""How the LMDB store keeps a leaf: lossless, and small for the common record shapes.

A leaf of exactly the shape of a ``LEAF_TEMPLATES`` entry (its header line,
then one ``key value`` line per key, in order) is stored as one code byte
(1 + the template's position) and the values joined by newlines; any other
leaf as ``0x00`` and the leaf. ``unpack_leaf(pack_leaf(leaf)) == leaf`` for
every leaf. A file record loses its 71 bytes of header and keys: a fifth of
the store.
"""

from __future__ import annotations

import re

from pypi_witness.core.errors import CorruptionError

# Leaf shapes stored as values only. Append-only: a code, once used, keeps its meaning.
LEAF_TEMPLATES: tuple[tuple[bytes, tuple[bytes, ...]], ...] = (
    (
        b"pypi-witness/v1 file\n",
        (b"name ", b"version ", b"file ", b"sha256 ", b"blake2b ", b"size ", b"time ", b"serial "),
    ),
)


def _template_pattern(header: bytes, keys: tuple[bytes, ...]) -> re.Pattern[bytes]:
    """A pattern that matches exactly the leaves of a template, capturing the values."""
    return re.compile(re.escape(header) + b"".join(re.escape(k) + rb"([^\n]*)\n" for k in keys), re.DOTALL)


_TEMPLATE_MATCHERS = tuple(_template_pattern(h, k).fullmatch for h, k in LEAF_TEMPLATES)


def pack_leaf(leaf: bytes) -> bytes:
    """The stored form of ``leaf`` (see the module docstring)."""
    for code, match in enumerate(_TEMPLATE_MATCHERS, 1):
        m = match(leaf)
        if m is not None:
            return bytes((code,)) + b"\n".join(m.groups())
    return b"\x00" + leaf


def unpack_leaf(stored: bytes) -> bytes:
    """The leaf whose stored form is ``stored``. CorruptionError for an unknown code or a wrong value count."""
    if not stored:
        raise CorruptionError("stored leaf is empty")
    code = stored[0]
    if code == 0:
        return stored[1:]
    if code > len(LEAF_TEMPLATES):
        raise CorruptionError(f"stored leaf has unknown template code {code}")
    header, keys = LEAF_TEMPLATES[code - 1]
    values = stored[1:].split(b"\n")
    if len(values) != len(keys):
        raise CorruptionError(f"stored leaf has {len(values)} values, template {code} has {len(keys)}")
    return header + b"".join([k + v + b"\n" for k, v in zip(keys, values)])
