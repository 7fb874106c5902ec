"""What the LMDB store keeps for each leaf, computed without the store: pure, so import workers run it.

``prepare_leaf`` gives a leaf's stored form, leaf hash, name-index prefix and
bucket item (``LmdbStore.append_prepared`` writes them); ``release_item`` the
``releases`` index item of a stored entry, whose keys are made as
``RELEASE_KEYS`` names.
"""

from __future__ import annotations

import hashlib

from pypi_witness.core.disputes.buckets import ITEM_DOMAIN
from pypi_witness.core.errors import RecordError, StoreError
from pypi_witness.core.records.format import RELEASE_PREFIX, parse_record, record_keys, release_key
from pypi_witness.store.leaf_codec import pack_leaf

_sha256 = hashlib.sha256


def name_prefix(filename: str) -> bytes:
    """The 8 bytes a filename is indexed by: 1 for the bucket key, 7 that lead its items."""
    return hashlib.sha256(filename.encode()).digest()[:8]


# What prepare_leaf computes for one leaf: the stored form, the leaf hash, the
# filename and its 8-byte name-index prefix (None, b"" for a leaf about no
# file), and for a file record its bucket item hash as an int and its bucket
# (else 0, 0: XORing 0 into a digest changes nothing).
Prepared = tuple[bytes, bytes, str | None, bytes, int, int]


def prepare_leaf(leaf: bytes, filename: str | None) -> Prepared:
    """The stateless part of appending ``leaf``: pure, so import workers can run it."""
    stored = pack_leaf(leaf)
    if filename is None:
        return (stored, _sha256(b"\x00" + leaf).digest(), None, b"", 0, 0)
    prefix = name_prefix(filename)
    if stored[0] != 1:
        return (stored, _sha256(b"\x00" + leaf).digest(), filename, prefix, 0, 0)
    # A file record: its item_values are its own lines from ``file`` to ``size``.
    start = leaf.index(b"\nfile ", 21) + 1
    item = int.from_bytes(_sha256(ITEM_DOMAIN + leaf[start : leaf.index(b"\ntime ", start) + 1]).digest(), "big")
    return (stored, _sha256(b"\x00" + leaf).digest(), filename, prefix, item, (prefix[0] << 4) | (prefix[1] >> 4))


# How release keys are made (``core.records.format.release_key``); a ``releases`` index
# whose ``meta`` ``releases_keys`` differs (or is absent) is rebuilt.
RELEASE_KEYS = b"pep440-canonical/1"
_RELEASE_RECORD_HEADERS = (b"\x00pypi-witness/v1 removal\n", b"\x00pypi-witness/v1 yank\n")


def release_item(stored: bytes, index: int) -> tuple[bytes, bytes] | None:
    """The ``releases`` index item of entry ``index`` (stored form): its release key's prefix and the
    index, for a file record (stored as ``0x01`` and its values joined by newlines: name, version, ...)
    and for a release's removal or yank (stored whole, after ``0x00``); None for any other entry."""
    if stored[0] == 1:
        name, version, _ = bytes(stored[1:]).split(b"\n", 2)
        key = release_key(name.decode(), version.decode())
    elif bytes(stored[:25]).startswith(_RELEASE_RECORD_HEADERS):
        try:
            keys = record_keys(parse_record(bytes(stored[1:])))
        except RecordError as e:
            raise StoreError(f"entry {index} does not parse: {e}") from None
        key = next((k for k in keys if k.startswith(RELEASE_PREFIX)), None)
        if key is None:
            return None  # a file's or a project's removal
    else:
        return None
    prefix = name_prefix(key)
    return prefix[:1], prefix[1:] + index.to_bytes(6, "big")
