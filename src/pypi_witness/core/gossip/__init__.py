"""Gossip of checkpoints: the sans-I/O gossip machine, its configuration and its messages."""
