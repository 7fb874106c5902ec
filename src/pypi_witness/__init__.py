"""pypi-witness: independent, cross-checking witnesses for the files PyPI serves."""

__version__ = "0.1.0"
