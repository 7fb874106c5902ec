from __future__ import annotations

from pathlib import Path

import pytest

from tests.rpc.support import copy_log, make_sample_log


@pytest.fixture(scope="session")
def sample_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A log of the bundled sample, built once; tests copy it (``data_dir``)."""
    path = tmp_path_factory.mktemp("sample") / "node"
    make_sample_log(path)
    return path


@pytest.fixture
def data_dir(sample_template: Path, tmp_path: Path) -> Path:
    """This test's own copy of the sample log."""
    return copy_log(sample_template, tmp_path / "node")
