"""Client privacy and abuse control: keyed client hashes rotated per period, access
events kept for a retention window, and token-bucket rate limits per client."""
