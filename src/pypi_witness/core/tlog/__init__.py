"""Transparency-log formats and checks: RFC 9162 Merkle trees, C2SP signed notes, checkpoints,
cosignatures, the tlog-witness add-checkpoint ladder, and equivocation evidence."""
