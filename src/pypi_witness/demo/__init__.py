"""``pypi-witness demo``: one node following a fake index, then a federation of three."""
