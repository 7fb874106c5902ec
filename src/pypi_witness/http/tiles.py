"""The log's tlog-tiles resources, made from the store: hash tiles and entry bundles, with a cache.

The store keeps its own tree layout (``store.lmdb_store``: 127-hash tiles of
every level from 1 up, leaves apart); tlog-tiles wants 256-hash tiles of
levels 0, 8, 16... So a tile is assembled from the store's public readers:

* a level-L tile (L >= 1) is ``read_hashes`` of the perfect subtrees
  ``(8L, N*256 + i)``, all stored;
* a level-0 tile is the RFC 6962 leaf hashes of leaves ``N*256 ..``, read
  with one cursor walk (``leaves``) and hashed;
* an entry bundle is those same leaves, length-prefixed (``core.tlog.tiles``).

Full tiles never change (the tree only grows), so ``TileSource`` keeps the
most recently used ones in memory; partial ones are made on each request
(the content of a partial tile of a given width never changes either, but
it is asked for rarely and replaced soon).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from pypi_witness.core.tlog.merkle import HashReader, leaf_hash
from pypi_witness.core.tlog.tiles import Tile, check_tile, format_bundle, read_tile
from pypi_witness.core.errors import NotFoundError
from pypi_witness.store.base import LogStore


def make_tile(tile: Tile, store: LogStore) -> bytes:
    """The bytes of ``tile`` (hashes or an entry bundle) from ``store``.

    The caller checks the tile exists at the size it serves (``core.tlog.tiles.check_tile``).
    Raises OutOfRangeError (or StoreError) if the store does not hold it, and
    NotFoundError for an entry bundle holding an entry longer than a bundle can carry.
    """
    if tile.level is None or tile.level == 0:
        leaves = store.leaves(tile.first, tile.first + tile.width)
        if tile.level == 0:
            return b"".join(map(leaf_hash, leaves))
        try:
            return format_bundle(leaves)
        except ValueError as e:
            raise NotFoundError(f"entry bundle {tile.path()} cannot be served: {e}") from None
    reader: HashReader = store
    return read_tile(tile, reader)


class TileSource:
    """Tiles of ``store``'s log, the latest ``cache_size`` full ones kept. Thread-safe."""

    def __init__(self, store: LogStore, cache_size: int) -> None:
        self.store = store
        self.cache_size = cache_size
        self._cache: OrderedDict[Tile, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def cached(self, tile: Tile) -> bytes | None:
        """The full tile ``tile`` if it is in the cache (then it is the most recently used), else None."""
        with self._lock:
            data = self._cache.get(tile)
            if data is not None:
                self._cache.move_to_end(tile)
            return data

    def get(self, tile: Tile, size: int) -> bytes:
        """The bytes of ``tile`` in the tree of ``size`` leaves (may block on the store: call from a thread).

        A partial tile is served at any width the tree has reached (its first
        ``width`` hashes never change). Raises NotFoundError if the tree of
        ``size`` does not hold the tile at its width, and what ``make_tile`` raises.
        """
        check_tile(tile, size)
        if not tile.is_full:
            return make_tile(tile, self.store)
        data = self.cached(tile)
        if data is None:
            data = make_tile(tile, self.store)
            if self.cache_size:
                with self._lock:
                    self._cache[tile] = data
                    while len(self._cache) > self.cache_size:
                        self._cache.popitem(last=False)
        return data
