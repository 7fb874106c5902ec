"""The log's entries: the canonical record format, its fields and kinds, the verdict record,
and how an index's answer is judged against what was logged before."""
