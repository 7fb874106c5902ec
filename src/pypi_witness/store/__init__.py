"""Storage of the append-only Merkle log: an LMDB store and an in-memory store."""
