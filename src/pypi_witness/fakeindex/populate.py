"""Generate a realistic, deterministic history of uploads into an ``Index``.

``populate(index, seed, projects)`` adds ``projects`` new projects. Each gets 1 to
``max_releases`` releases, each release 1 to ``max_files`` files (an sdist, then
wheels with assorted tags), uploaded in one burst like a real upload session.
Projects are interleaved in time, so the changelog mixes them as PyPI's does.
Between releases a project sometimes yanks or un-yanks a release, removes a
file or a release, or (rarely) is removed altogether. Display names use
assorted spellings (``Fast-Json``, ``fast_json``, ``FastJson``, ``fast.json``) so
clients must normalize. About 15% of upload times have no fractional seconds.

On average a project has about 4.5 releases and 13 files: 50,000 files take about
3,800 projects. The same ``(seed, projects, options)`` on the same index state
always yields the same journal, names, times and content.
"""

from __future__ import annotations

import random
from typing import Any

from pypi_witness.fakeindex.names import normalize

START = 1_640_995_200  # 2022-01-01T00:00:00Z: generated history starts here (or after the last row)

_WORDS = (  # noqa: SIM905 - a word list reads better as text
    "fast json async http client tools toolkit data frame stream parse lint test mock yaml toml cache "
    "queue task graph image audio video crypto hash auth oauth token sql orm db redis kafka grpc proto "
    "cloud aws azure gcp docker build deploy config env log trace metric plot chart geo time date text "
    "nlp vision model train tensor array matrix math stats sim web api rest flask django fastapi cli"
).split()
_PREFIXES = ("", "", "", "py", "python-", "django-", "flask-", "aio", "pytest-", "types-")
_WHEEL_TAGS = (
    "py3-none-any",
    "py2.py3-none-any",
    "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
    "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64",
    "cp312-cp312-win_amd64",
    "cp311-cp311-macosx_11_0_arm64",
    "cp313-cp313-musllinux_1_2_x86_64",
)
_YANK_REASONS = ("", "", "broken build", "security issue, use a later release", "wrong metadata")
_REQUIRES = ("", ">=3.8", ">=3.9", ">=3.10", ">=3.7,<4")


def _display_name(rng: random.Random, words: list[str]) -> str:
    style = rng.random()
    if style < 0.6:
        return "-".join(words)
    if style < 0.75:
        return "".join(w.capitalize() for w in words)
    if style < 0.85:
        return "_".join(words)
    if style < 0.95:
        return "-".join(w.capitalize() for w in words)
    return ".".join(words)


def _new_name(rng: random.Random, taken: set[str]) -> str:
    while True:
        words = [rng.choice(_WORDS) for _ in range(rng.choice((1, 2, 2, 3)))]
        prefix = rng.choice(_PREFIXES)
        if prefix.endswith("-"):
            words = [prefix[:-1], *words]
        elif prefix:
            words[0] = prefix + words[0]
        name = _display_name(rng, words)
        if normalize(name) in taken:
            name = f"{name}{rng.randrange(2, 10_000)}"
        if normalize(name) not in taken:
            taken.add(normalize(name))
            return name


def _next_version(rng: random.Random, last: tuple[int, int, int] | None) -> tuple[tuple[int, int, int], str]:
    if last is None:
        nums = (rng.choice((0, 0, 1, 2)), rng.randrange(10), 0)
    else:
        roll = rng.random()
        major, minor, patch = last
        if roll < 0.7:
            nums = (major, minor, patch + 1)
        elif roll < 0.9:
            nums = (major, minor + 1, 0)
        else:
            nums = (major + 1, 0, 0)
    text = ".".join(map(str, nums))
    if rng.random() < 0.08:
        text += rng.choice(("rc1", "b1", "a2"))
    elif rng.random() < 0.03:
        text += ".post1"
    return nums, text


class _Plan:
    __slots__ = ("dist", "last", "left", "name", "requires", "versions")

    def __init__(self, name: str, releases: int, requires: str) -> None:
        self.name = name
        self.dist = normalize(name).replace("-", "_")
        self.left = releases
        self.last: tuple[int, int, int] | None = None
        self.versions: list[str] = []
        self.requires = requires


def populate(index: Any, seed: int, projects: int, *, max_releases: int = 8, max_files: int = 5) -> int:
    """Add ``projects`` generated projects to ``index`` (caller holds its lock); returns the last serial."""
    rng = random.Random(f"pypi-witness-fakeindex/{seed}")
    taken = {p.normalized for p in index._all_projects()}
    plans = [
        _Plan(_new_name(rng, taken), rng.randint(1, max(1, max_releases)), rng.choice(_REQUIRES))
        for _ in range(max(0, projects))
    ]
    now = float(max(START, index.journal[-1][2] + 1 if index.journal else START))
    active = list(plans)
    while active:
        k = rng.randrange(len(active))
        plan = active[k]
        now += rng.randint(1, 600) + rng.random()
        if plan.versions and rng.random() < 0.08:
            if _maintenance(index, rng, plan, now):
                active[k] = active[-1]
                active.pop()
            continue
        if plan.left == 0:
            active[k] = active[-1]
            active.pop()
            continue
        plan.left -= 1
        plan.last, version = _next_version(rng, plan.last)
        plan.versions.append(version)
        summary = f"{plan.name}: {' '.join(rng.choice(_WORDS) for _ in range(4))}"
        nfiles = rng.randint(1, max(1, max_files))
        tags = rng.sample(_WHEEL_TAGS, min(len(_WHEEL_TAGS), nfiles - 1))
        suffix = ".zip" if rng.random() < 0.05 else ".tar.gz"
        filenames = [f"{plan.dist}-{version}{suffix}"] + [f"{plan.dist}-{version}-{tag}.whl" for tag in tags]
        for filename in filenames:
            now += rng.randint(1, 30)
            micro = 0 if rng.random() < 0.15 else rng.randrange(1, 1_000_000)
            index._add_file(
                plan.name, version, filename, None, int(now) * 1_000_000 + micro, None, now, True,
                owner=f"user{rng.randrange(1000)}", requires_python=plan.requires, summary=summary,
            )  # fmt: skip
    return index.last_serial


def _maintenance(index: Index, rng: random.Random, plan: _Plan, now: float) -> bool:
    """One yank / unyank / file or release removal / project removal; True when the project is gone."""
    project = index.projects[normalize(plan.name)]
    live = [r for r in project.releases.values() if r.removed_serial is None]
    roll = rng.random()
    if roll < 0.02:
        index._remove_project(plan.name, now=now)
        return True
    if not live:
        return False
    release = rng.choice(live)
    yanked = release.yanks and release.yanks[-1][1] is not None
    if roll < 0.45:
        if yanked:
            index._unyank_release(plan.name, release.version, now=now)
        else:
            index._yank_release(plan.name, release.version, rng.choice(_YANK_REASONS), now=now)
    elif roll < 0.85:
        files = [f for f in release.files if f.removed_serial is None]
        if files:
            index._remove_file(plan.name, release.version, rng.choice(files).filename, now=now)
    else:
        index._remove_release(plan.name, release.version, now=now)
    return False
