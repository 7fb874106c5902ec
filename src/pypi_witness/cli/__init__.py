"""The ``pypi-witness`` command line: the parser (``main``), shared argument helpers
(``args``) and one module per command group."""
