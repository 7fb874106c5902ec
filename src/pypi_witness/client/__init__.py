"""The user-facing client: verify files against many nodes and a quorum policy, offline bundles."""
