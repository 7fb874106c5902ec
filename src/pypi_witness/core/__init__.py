"""The pure core: bytes and values in, values out.

Nothing in this package imports trio, grpc, lmdb, os, time or random; clocks,
randomness and keys are passed in by the caller.
"""
