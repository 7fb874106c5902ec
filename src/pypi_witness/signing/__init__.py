"""The node's two keys, and the one gate each signs through: the log (``log``: the log key signs
checkpoints) and the witness (``witness``: the witness key cosigns other logs); key files (``keys``)."""
