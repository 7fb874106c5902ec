"""Fixtures for the fake index tests: a small populated index served on 127.0.0.1."""

from __future__ import annotations

import pytest

from pypi_witness.fakeindex import FakeIndexServer, Index
from tests.fakeindex.support import CAP, Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def index(clock: Clock) -> Index:
    index = Index(content_seed=5, clock=clock)
    index.populate(seed=7, projects=15)
    return index


@pytest.fixture
def server(index: Index):
    with FakeIndexServer(index, changelog_cap=CAP) as server:
        yield server
