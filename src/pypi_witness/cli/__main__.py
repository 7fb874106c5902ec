"""``python -m pypi_witness.cli``: the command line."""

import sys

from pypi_witness.cli.main import main

sys.exit(main())
