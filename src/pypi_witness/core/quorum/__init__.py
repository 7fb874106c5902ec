"""Whom to trust, and how much: C2SP tlog-policy, quorum evaluation and its fault tolerance,
C2SP tlog-proof bundles, and a log's signed statement about one filename."""
