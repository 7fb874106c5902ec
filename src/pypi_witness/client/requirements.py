"""pip requirements files, read as pip reads them.

``pip-compile --generate-hashes``, ``uv pip compile --generate-hashes`` and
``uv export --format requirements-txt`` write them.

Lines are joined at a trailing ``\\`` first, then a comment (``#`` at the start
or after whitespace) is cut off the joined line, as pip's ``req_file`` does;
every token keeps the number of the physical line it is on, so a hash is
reported on its own line. ``-r``/``--requirement`` includes are read relative
to the including file, each file once; an include cycle is refused.

What each requirement becomes (an :class:`Expected`):

* ``name==version`` (or ``===``) with ``--hash=sha256:`` options names a
  release: every listed hash must be a file logged for it;
* a URL or path (``name @ URL``, a bare URL or path) whose last segment is a
  distribution filename names that file; its hashes come from ``--hash``
  options and a ``#sha256=`` fragment;
* never checkable (status NOT_CHECKABLE): ``-e``/``--editable``, a VCS URL, a
  URL or path that names no distribution file (a local directory);
* not checkable as written (UNKNOWN, with the reason): a requirement without
  a sha256 hash, or with no single pinned version.

MalformedError (naming file and line) for an unreadable file or include, an
include cycle, an unknown option, a ``--hash`` that is not
``sha256|sha384|sha512:HEX`` of the right length, or a line that is not a
requirement.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from pypi_witness.client.expected import Expected, TargetReader, not_checkable
from pypi_witness.client.filenames import is_distribution
from pypi_witness.core.records.values import normalize_project
from pypi_witness.core.errors import MalformedError, RecordError

_HEX64 = re.compile("[0-9a-f]{64}")
_HASH_VALUE = re.compile(r"(sha256|sha384|sha512):([0-9a-fA-F]+)")
_HASH_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_DIRECT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*@\s*(\S+)")
# name[extras]==version (or ===), with an optional environment marker: one exact version.
_PINNED = re.compile(
    r"([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[[^\]]*\])?\s*===?\s*([^\s;,*=<>!~]+)\s*(?:;.*)?"
)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# pip's req_file.COMMENT_RE: a comment starts at a '#' at the start or after whitespace.
_COMMENT = re.compile(r"(^|\s+)#.*$")
_TOKEN = re.compile(r"\S+")
# Options pip accepts on a line of their own, and whether they take a value.
_GLOBAL_OPTIONS = {
    "-i": True, "--index-url": True, "--extra-index-url": True, "--no-index": False,
    "-f": True, "--find-links": True, "--pre": False, "--trusted-host": True,
    "--only-binary": True, "--no-binary": True, "--prefer-binary": False,
    "--require-hashes": False, "--use-feature": True, "-c": True, "--constraint": True,
}  # fmt: skip

Token = tuple[int, str]  # (physical line number, token)


def logical_lines(text: str) -> Iterator[list[Token]]:
    """Each logical line's tokens with their physical line numbers, as pip joins and uncomments lines."""
    pending: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        comment_line = _COMMENT.match(raw) is not None
        if raw.endswith("\\") and not comment_line:
            pending.append((number, raw.strip("\\")))
            continue
        pending.append((number, " " + raw if comment_line else raw))
        tokens = _tokens(pending)
        pending = []
        if tokens:
            yield tokens
    if pending and (tokens := _tokens(pending)):
        yield tokens


def _tokens(segments: list[tuple[int, str]]) -> list[Token]:
    """The tokens of the joined ``segments`` once the comment is cut, each with its segment's line."""
    joined, starts = "", []
    for number, text in segments:
        starts.append((len(joined), number))
        joined += text
    comment = _COMMENT.search(joined)
    if comment is not None:
        joined = joined[: comment.start()]
    out = []
    for match in _TOKEN.finditer(joined):
        number = next(n for start, n in reversed(starts) if start <= match.start())
        out.append((number, match.group()))
    return out


def _option_value(tokens: list[Token], i: int, where: str) -> tuple[Token, int]:
    """The value of the option at tokens[i] (``--opt=value``, ``--opt value``, ``-rfile``) and the next index."""
    number, token = tokens[i]
    if "=" in token and token.startswith("--"):
        return (number, token.split("=", 1)[1]), i + 1
    if len(token) > 2 and token[1] != "-":  # -rfile
        return (number, token[2:]), i + 1
    if i + 1 >= len(tokens):
        raise MalformedError(f"{where}: {token} needs a value")
    return tokens[i + 1], i + 2


def filename_of(location: str) -> str:
    """The last path segment of a URL or path, without query or fragment."""
    if _SCHEME.match(location):
        path = urllib.parse.unquote(urllib.parse.urlsplit(location).path)
    else:
        path = location.split("#", 1)[0]
    return path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


def _requirement(where: str, requirement: str, hashes: list[tuple[str, str]], url_line: str) -> Expected:
    """The Expected of one requirement; ``hashes`` are (sha256, file:line) of its ``--hash`` options."""
    located = tuple(hashes)
    sha256 = frozenset(h for h, _ in hashes)
    direct = _DIRECT.match(requirement)
    location = direct.group(2) if direct else requirement.split(";", 1)[0].strip()
    if location.startswith(("git+", "hg+", "svn+", "bzr+")):
        return not_checkable(where, requirement, "a VCS checkout, not a file on an index")
    if direct or _SCHEME.match(location) or "/" in location or location.endswith((".whl", ".tar.gz", ".zip")):
        fragment = urllib.parse.urlsplit(location).fragment if "#" in location else ""
        for key, value in urllib.parse.parse_qsl(fragment):
            if key == "sha256" and _HEX64.fullmatch(value.lower()):
                sha256 |= {value.lower()}
                located += ((value.lower(), url_line),)
        filename = filename_of(location)
        if not filename or not is_distribution(filename):
            what = repr(filename) if filename else "no file"
            return not_checkable(where, requirement, f"names {what}, not a distribution file: a directory or a "
                                                     "file no index serves")  # fmt: skip
        if not sha256:
            return Expected(where, filename, sha256, reason="no --hash=sha256:... to check it against")
        return Expected(where, filename, sha256, hash_where=located)
    if _NAME.match(requirement) is None:
        raise MalformedError(f"{where}: {requirement!r} is not a requirement")
    pinned = _PINNED.fullmatch(requirement)
    if not sha256:
        return Expected(where, None, sha256, reason="no --hash=sha256:... to check", label=requirement)
    if pinned is None:
        return Expected(
            where, None, sha256, label=requirement,
            reason="pins no single version (use name==version, or the file's URL: 'name @ https://.../file.whl')",
        )  # fmt: skip
    try:
        project = normalize_project(pinned.group(1))
    except RecordError:
        raise MalformedError(f"{where}: {pinned.group(1)!r} is not a valid project name") from None
    return Expected(where, None, sha256, release=(project, pinned.group(2)), hash_where=located,
                    label=f"{project}=={pinned.group(2)}")  # fmt: skip


def requirements_files(path: Path, reader: TargetReader | None = None, _chain: tuple[Path, ...] = ()) -> list[Expected]:
    """Every requirement of the pip requirements file at ``path`` and its includes, in order.

    ``reader`` bounds what is read (a new one if None); a file included a
    second time is not read again. Raises MalformedError as the module
    docstring says.
    """
    reader = reader if reader is not None else TargetReader()
    resolved = path.resolve()
    if resolved in _chain:
        raise MalformedError(f"{path}: includes itself (through -r)")
    reader.first_time(path)
    data = reader.read(path, "requirements file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MalformedError(f"{path}: not UTF-8 text") from None
    out: list[Expected] = []
    for tokens in logical_lines(text):
        first, word = tokens[0]
        where = f"{path}:{first}"
        if word in ("-r", "--requirement") or word.startswith(("-r", "--requirement=")):
            (_, name), _ = _option_value(tokens, 0, where)
            included = path.parent / name
            if included.resolve() in (*_chain, resolved):
                raise MalformedError(f"{included}: includes itself (through -r)")
            if reader.first_time(included):
                out += requirements_files(included, reader, (*_chain, resolved))
            continue
        if word in ("-e", "--editable") or word.startswith("--editable="):
            (_, target), _ = _option_value(tokens, 0, where)
            out.append(not_checkable(where, f"-e {target}", "an editable requirement: a local project, not a file "
                                                           "on an index"))  # fmt: skip
            continue
        if word.startswith("-"):
            option = word.split("=", 1)[0]
            if option not in _GLOBAL_OPTIONS:
                raise MalformedError(f"{where}: unknown option {option}")
            continue
        first_option = next((i for i, (_, t) in enumerate(tokens) if t.startswith("-")), len(tokens))
        requirement = " ".join(t for _, t in tokens[:first_option])
        url_line = f"{path}:{tokens[first_option - 1][0]}"
        hashes: list[tuple[str, str]] = []
        i = first_option
        while i < len(tokens):
            if tokens[i][1] == "--hash" or tokens[i][1].startswith("--hash="):
                (number, value), i = _option_value(tokens, i, where)
                match = _HASH_VALUE.fullmatch(value)
                if match is None or len(match.group(2)) != _HASH_LENGTHS[match.group(1)]:
                    raise MalformedError(
                        f"{path}:{number}: --hash={value[:80]} is not sha256:<64 hex digits> (or sha384/sha512)"
                    )
                if match.group(1) == "sha256":
                    hashes.append((match.group(2).lower(), f"{path}:{number}"))
            else:
                i += 1  # other per-requirement options (--config-settings...) do not concern us
        out.append(_requirement(where, requirement, hashes, url_line))
    return out
