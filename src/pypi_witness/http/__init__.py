"""The node's HTTP face: C2SP tlog-witness, tlog-checkpoint and tlog-tiles, and tlog-proof bundles.

``app`` is the ASGI application, ``server`` runs it under Hypercorn's trio
worker in the node's nursery, ``errors`` is the one table from package errors
to HTTP statuses, ``tiles`` and ``export`` make tlog-tiles resources from the
log's store (served, or written as static files), ``client`` posts
add-checkpoint to HTTP witnesses, ``commands`` is ``pypi-witness tiles``.
"""
