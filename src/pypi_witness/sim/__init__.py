"""The simulator: many production gossip machines over a seeded in-memory network."""
