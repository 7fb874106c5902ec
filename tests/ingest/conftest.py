"""What the follower tests share: a populated fake index on loopback, and a fresh log."""

from __future__ import annotations

from pathlib import Path

import pytest

from pypi_witness.fakeindex import FakeIndexServer, Index
from pypi_witness.signing.log import init_log

ORIGIN = "witness.test/follow"


@pytest.fixture
def fake():
    """The fake warehouse index with 40 generated projects (about 500 files), served on 127.0.0.1."""
    index = Index(content_seed=3)
    index.populate(seed=11, projects=40)
    with FakeIndexServer(index) as server:
        yield server


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A data directory holding a new, empty log."""
    init_log(tmp_path / "node", ORIGIN).close()
    return tmp_path / "node"
