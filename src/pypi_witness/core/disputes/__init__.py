"""Disputes about a file's hash: filename buckets, the sans-I/O dispute finder and its messages,
and settling a dispute by quorum."""
