"""The fixtures every test here shares (defined in ``tests.cli.support``)."""

from tests.cli.support import big_file, sample_leaves, sample_lines, sample_log  # noqa: F401
