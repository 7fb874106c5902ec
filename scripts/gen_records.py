"""Generate realistic, deterministic PyPI file records shaped like BigQuery's export.

Writes JSON Lines with the columns of ``bigquery-public-data.pypi.distribution_metadata``
that the importer reads (``name``, ``version``, ``upload_time``, ``filename``,
``size``, ``path``, ``python_version``, ``packagetype``, ``md5_digest``,
``sha256_digest``, ``blake2_256_digest``), formatted as ``bq`` exports them:
INT64 ``size`` as a decimal string, times as ``2023-05-22 15:12:42.313790 UTC``.

Projects get several releases of several files each: sdists and pure or
platform wheels with real tags, so filenames average about 50 characters as on
PyPI. Digests are random hex (the files do not exist); ``path`` matches the
BLAKE2b digest as PyPI's does. Filenames never repeat. The same ``N`` and seed
always give the same bytes.

Usage::

    python scripts/gen_records.py 1000000 --seed 7 > records.jsonl

or, from Python (tests, benchmarks)::

    from gen_records import generate
    for row in generate(1000, seed=1): ...

The bundled sample was made with::

    python scripts/gen_records.py 200 --seed 1 > src/pypi_witness/data/sample_records.jsonl
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import sys
from collections.abc import Iterator

_WORDS = (
    "auth api async aws azure backup base blob cache celery cli client cloud color "
    "config core crypto data date db debug deploy django docs env event fast file "
    "flask form geo graph grpc hash http image index io jwt kafka kit lint log mail "
    "markdown math mock model net numpy ocr orm pandas parser path plot plugin pool "
    "proto proxy queue redis render rest retry rpc schema search sentry serial shell "
    "signal sql stats storage stream sync task template test text time token toml "
    "tools trace types util vector view web widget xml yaml zip torch learn bot"
).split()
_PREFIXES = ("py", "django-", "flask-", "pytest-", "azure-mgmt-", "types-", "sphinx-", "aio")
_PYTHONS = ("cp38", "cp39", "cp310", "cp311", "cp312", "cp313")
_PLATFORMS = (
    "manylinux_2_17_x86_64.manylinux2014_x86_64",
    "manylinux_2_17_aarch64.manylinux2014_aarch64",
    "musllinux_1_1_x86_64",
    "macosx_10_9_x86_64",
    "macosx_11_0_arm64",
    "win_amd64",
    "win32",
)
_EPOCH = datetime.datetime(2008, 1, 1)
_SPAN_SECONDS = 17 * 365 * 86400


def _project_name(rng: random.Random) -> str:
    """A display name of 5 to 25 characters in one of PyPI's common styles."""
    while True:
        words = rng.sample(_WORDS, rng.choice((1, 2, 2, 3, 3)))
        style = rng.random()
        if style < 0.55:
            name = "-".join(words)
        elif style < 0.70:
            name = "_".join(words)
        elif style < 0.80:
            name = "".join(word.capitalize() for word in words)
        elif style < 0.93:
            name = rng.choice(_PREFIXES) + "-".join(words)
        else:
            name = ".".join(words)
        if rng.random() < 0.1:
            name += str(rng.randint(2, 9))
        if 5 <= len(name) <= 25:
            return name


def _normalized(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _versions(rng: random.Random) -> Iterator[str]:
    """Increasing PEP 440 versions, sometimes with pre- or post-release parts."""
    major, minor, patch = rng.choice((0, 0, 1, 2, 3)), rng.randint(0, 12), 0
    while True:
        step = rng.random()
        if step < 0.6:
            patch += 1
        elif step < 0.9:
            minor, patch = minor + 1, 0
        else:
            major, minor, patch = major + 1, 0, 0
        suffix = rng.choice(("",) * 12 + ("rc1", "b1", "a2", ".post1", ".dev0"))
        yield f"{major}.{minor}.{patch}{suffix}"


def _filenames(
    rng: random.Random, name: str, version: str, binary: bool
) -> list[tuple[str, str, str]]:
    """``(filename, python_version, packagetype)`` for every file of one release."""
    wheel_name = _normalized(name).replace("-", "_")
    sdist_name = wheel_name if rng.random() < 0.6 else name
    files = [(f"{sdist_name}-{version}.tar.gz", "source", "sdist")]
    if binary:
        pythons = rng.sample(_PYTHONS, rng.randint(1, 3))
        platforms = rng.sample(_PLATFORMS, rng.randint(2, 5))
        for python in sorted(pythons):
            for platform in platforms:
                wheel = f"{wheel_name}-{version}-{python}-{python}-{platform}.whl"
                files.append((wheel, python, "bdist_wheel"))
    elif rng.random() < 0.85:
        tag = "py3" if rng.random() < 0.8 else "py2.py3"
        files.append((f"{wheel_name}-{version}-{tag}-none-any.whl", tag, "bdist_wheel"))
    return files


def _timestamp(moment: datetime.datetime) -> str:
    """BigQuery's TIMESTAMP export form; whole seconds are written without a fraction."""
    text = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d} "
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + " UTC"


def generate(n: int, seed: int = 1) -> Iterator[dict]:
    """Yield ``n`` BigQuery-shaped rows, the same ones for the same ``n`` and ``seed``.

    Rows of one project come together (its releases in time order); no two
    rows share a filename or a BLAKE2b digest (barring a 2**-128 collision).
    """
    rng = random.Random(seed)
    seen: set[str] = set()
    produced = 0
    while produced < n:
        name = _project_name(rng)
        while _normalized(name) in seen:
            name = _project_name(rng)
        seen.add(_normalized(name))
        binary = rng.random() < 0.3
        moment = _EPOCH + datetime.timedelta(seconds=rng.randrange(_SPAN_SECONDS))
        versions = _versions(rng)
        for _release in range(rng.choice((1, 1, 2, 3, 4, 6))):
            version = next(versions)
            for filename, python_version, packagetype in _filenames(rng, name, version, binary):
                if produced == n:
                    return
                moment += datetime.timedelta(
                    seconds=rng.randrange(1, 30), microseconds=rng.randrange(1_000_000)
                )
                if rng.random() < 0.02:
                    moment = moment.replace(microsecond=0)
                blake2 = f"{rng.getrandbits(256):064x}"
                yield {
                    "name": name,
                    "version": version,
                    "upload_time": _timestamp(moment),
                    "filename": filename,
                    "size": str(int(rng.lognormvariate(11.0, 1.6)) + 300),
                    "path": f"{blake2[:2]}/{blake2[2:4]}/{blake2[4:]}/{filename}",
                    "python_version": python_version,
                    "packagetype": packagetype,
                    "md5_digest": f"{rng.getrandbits(128):032x}",
                    "sha256_digest": f"{rng.getrandbits(256):064x}",
                    "blake2_256_digest": blake2,
                }
                produced += 1
            moment += datetime.timedelta(seconds=rng.randrange(3600, 120 * 86400))


def main(argv: list[str] | None = None) -> int:
    """Write ``N`` lines to standard output; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", type=int, metavar="N", help="number of lines to write")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    args = parser.parse_args(argv)
    if args.n < 0:
        parser.error("N must be >= 0")
    encode = json.JSONEncoder(separators=(",", ":")).encode
    out = sys.stdout
    batch: list[str] = []
    for row in generate(args.n, args.seed):
        batch.append(encode(row))
        if len(batch) == 10_000:
            out.write("\n".join(batch) + "\n")
            batch.clear()
    if batch:
        out.write("\n".join(batch) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
