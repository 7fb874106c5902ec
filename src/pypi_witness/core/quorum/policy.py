"""C2SP tlog-policy files: which logs and witnesses to trust, and the quorum.

A policy file is a list of lines::

    log <vkey> [<url>]
    witness <name> <vkey> [<url>]
    group <name> <k|any|all> <member>...
    quorum <name|none>

with blank lines and ``#`` comment lines ignored. A checkpoint is valid under a
policy if one of its logs signed it and its witnesses' cosignatures satisfy the
quorum (evaluated by :mod:`pypi_witness.core.quorum.evaluation`).

Names are handled as the spec says, as opaque octet strings: the file is read
as bytes and decoded with UTF-8 and ``surrogateescape``, which is one-to-one,
so two names are equal exactly when their octets are; no Unicode rule (case,
normalisation, Unicode spaces) applies. Only ASCII space and tab separate
fields.

Every rule the parser enforces raises :class:`~pypi_witness.core.errors.PolicyError`
with the 1-based line number and the problem. A :class:`Policy` built in code is
checked against the same rules (without line numbers), so every Policy value is
a valid policy, and ``parse_policy(format_policy(p)) == p``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from pypi_witness.core.tlog.note import ALG_COSIGNATURE_V1, ALG_ED25519, Verifier
from pypi_witness.core.errors import NoteError, PolicyError, quoted

NONE = "none"
KEYWORDS = ("log", "witness", "group", "quorum")

# SPEC: tlog-policy — whitespace is sequences of ASCII space and tab characters only
_WHITESPACE = re.compile(b"[ \t]+")
# SPEC: tlog-policy — allowed octets are 0x09, 0x0A, 0x20-0x7E and 0x80-0xFF
_FORBIDDEN_OCTET = re.compile(b"[^\t\n\x20-\x7e\x80-\xff]")
_DECIMAL = re.compile("[0-9]+")
# A threshold can never exceed the member count, which cannot exceed the line
# length; this bound only keeps int() away from absurdly long digit strings.
_MAX_THRESHOLD_DIGITS = 9


def _decode(token: bytes) -> str:
    """Bytes to str, one-to-one (high-bit octets stay opaque as surrogates)."""
    return token.decode("utf-8", "surrogateescape")


def _encode(text: str) -> bytes:
    """The octets of a name or field (the inverse of _decode)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise PolicyError(f"{quoted(text)} holds a lone surrogate that no octet string decodes to") from None


@dataclass(frozen=True)
class PolicyLog:
    """A trusted log: its Ed25519 (0x01) verifier key, whose name is the log's origin, and an optional URL."""

    verifier: Verifier
    url: str | None = None

    @property
    def origin(self) -> str:
        """The origin line of the log's checkpoints (the vkey's key name)."""
        return self.verifier.name


@dataclass(frozen=True)
class PolicyWitness:
    """A witness: its policy-local name, cosignature (0x04) verifier key and optional URL."""

    name: str
    verifier: Verifier
    url: str | None = None


@dataclass(frozen=True)
class PolicyGroup:
    """A group satisfied when at least ``threshold`` of its ``members`` (witness or group names) are."""

    name: str
    threshold: int
    members: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "members", tuple(self.members))


class _Builder:
    """Applies the spec's rules one definition at a time; shared by the parser and Policy."""

    def __init__(self) -> None:
        self.logs: list[PolicyLog] = []
        self.witnesses: list[PolicyWitness] = []
        self.groups: list[PolicyGroup] = []
        self.quorum: str | None = None
        self.quorum_set = False
        self.names: set[str] = set()
        self.group_members: dict[str, str] = {}
        self.log_keys: dict[bytes, str] = {}
        self.witness_keys: dict[bytes, str] = {}

    def _check_name(self, name: str, what: str, line: int | None) -> None:
        if not isinstance(name, str) or not name:
            raise PolicyError(f"{what} name is empty", line)
        raw = _encode(name)
        if _WHITESPACE.search(raw) or b"\n" in raw:
            raise PolicyError(f"{what} name {quoted(name)} contains a space, tab or newline", line)
        bad = _FORBIDDEN_OCTET.search(raw)
        if bad:
            raise PolicyError(f"{what} name {quoted(name)} contains the control octet 0x{bad.group()[0]:02x}", line)
        # SPEC: tlog-policy — the special name `none` is predefined
        if name == NONE:
            raise PolicyError(f"'{NONE}' is predefined and cannot name a {what}", line)
        # SPEC: tlog-policy — witnesses and groups share a single namespace
        if name in self.names:
            raise PolicyError(f"name {quoted(name)} is already defined", line)

    def _check_url(self, url: str | None, line: int | None) -> None:
        if url is None:
            return
        if not isinstance(url, str) or not url or _WHITESPACE.search(_encode(url)) or "\n" in url:
            raise PolicyError(f"URL {quoted(url)} is empty or contains whitespace", line)
        bad = _FORBIDDEN_OCTET.search(_encode(url))
        if bad:
            raise PolicyError(f"URL contains the control octet 0x{bad.group()[0]:02x}", line)
        # Not a spec rule: '#' starts a comment only at the start of a line, so a
        # URL field starting with '#' is almost surely a misplaced trailing comment.
        if url.startswith("#"):
            raise PolicyError(f"URL {quoted(url)} starts with '#'; comments must be on their own line", line)

    def add_log(self, log: PolicyLog, line: int | None) -> None:
        # SPEC: tlog-policy / tlog-checkpoint — log keys are Ed25519 note keys (type 0x01)
        if log.verifier.alg != ALG_ED25519:
            raise PolicyError(
                f"log key {quoted(log.verifier.name)} has type 0x{log.verifier.alg:02x}; a log key must be 0x01 (Ed25519)",
                line,
            )
        self._check_url(log.url, line)
        # SPEC: tlog-policy — duplicate logs (same underlying public key) are not allowed
        other = self.log_keys.get(log.verifier.public_key)
        if other is not None:
            raise PolicyError(f"log key {quoted(log.verifier.name)} has the same public key as log {quoted(other)}", line)
        self.log_keys[log.verifier.public_key] = log.verifier.name
        self.logs.append(log)

    def add_witness(self, witness: PolicyWitness, line: int | None) -> None:
        self._check_name(witness.name, "witness", line)
        # SPEC: tlog-policy / tlog-cosignature — witness keys are cosignature/v1 keys (type 0x04)
        if witness.verifier.alg != ALG_COSIGNATURE_V1:
            raise PolicyError(
                f"witness {quoted(witness.name)} key has type 0x{witness.verifier.alg:02x}; "
                "a witness key must be 0x04 (cosignature/v1)",
                line,
            )
        self._check_url(witness.url, line)
        # SPEC: tlog-policy — duplicate witnesses (same underlying public key) are not allowed
        other = self.witness_keys.get(witness.verifier.public_key)
        if other is not None:
            raise PolicyError(f"witness {quoted(witness.name)} has the same public key as witness {quoted(other)}", line)
        self.witness_keys[witness.verifier.public_key] = witness.name
        self.names.add(witness.name)
        self.witnesses.append(witness)

    def add_group(self, group: PolicyGroup, line: int | None) -> None:
        self._check_name(group.name, "group", line)
        n = len(group.members)
        # SPEC: tlog-policy — at least one member must be listed (n >= 1)
        if n == 0:
            raise PolicyError(f"group {quoted(group.name)} has no members", line)
        # SPEC: tlog-policy — it is required that 1 <= k <= n
        if not isinstance(group.threshold, int) or isinstance(group.threshold, bool) or not 1 <= group.threshold <= n:
            raise PolicyError(f"group {quoted(group.name)} threshold {group.threshold} is not in 1..{n}", line)
        seen: set[str] = set()
        for member in group.members:
            # SPEC: tlog-policy — `none` is invalid as a group member
            if member == NONE:
                raise PolicyError(f"group {quoted(group.name)}: '{NONE}' cannot be a group member", line)
            # SPEC: tlog-policy — a group can only reference names defined on preceding lines
            if member not in self.names:
                raise PolicyError(f"group {quoted(group.name)}: member {quoted(member)} is not defined on an earlier line", line)
            if member in seen:
                raise PolicyError(f"group {quoted(group.name)} lists {quoted(member)} twice", line)
            # SPEC: tlog-policy — each defined name can be listed as a group member at most once
            # (in the whole file, so a witness contributes to the quorum in only one way)
            if member in self.group_members:
                raise PolicyError(
                    f"group {quoted(group.name)}: {quoted(member)} is already a member of group {quoted(self.group_members[member])}",
                    line,
                )
            seen.add(member)
        for member in group.members:
            self.group_members[member] = group.name
        self.names.add(group.name)
        self.groups.append(group)

    def set_quorum(self, name: str | None, line: int | None) -> None:
        # SPEC: tlog-policy — a policy file must include exactly one quorum line
        if self.quorum_set:
            raise PolicyError("there is more than one quorum line", line)
        # SPEC: tlog-policy — the quorum names a witness or group defined earlier, or `none`
        if name is not None and name not in self.names:
            raise PolicyError(f"quorum {quoted(name)} is not a witness or group defined on an earlier line", line)
        self.quorum = name
        self.quorum_set = True

    def finish(self, line: int | None) -> None:
        # SPEC: tlog-policy — only the quorum is mandatory; exactly one quorum line
        if not self.quorum_set:
            raise PolicyError("the policy has no quorum line", line)


@dataclass(frozen=True)
class Policy:
    """A valid tlog-policy: logs, witnesses and groups in definition order, and the quorum.

    ``quorum`` is a witness or group name, or None for ``quorum none`` (no
    cosignature needed). Construction raises PolicyError if any rule of the
    format is broken (see :func:`parse_policy`); groups must come after the
    witnesses and groups they reference, as in a file.
    """

    logs: tuple[PolicyLog, ...]
    witnesses: tuple[PolicyWitness, ...]
    groups: tuple[PolicyGroup, ...]
    quorum: str | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "logs", tuple(self.logs))
        object.__setattr__(self, "witnesses", tuple(self.witnesses))
        object.__setattr__(self, "groups", tuple(self.groups))
        builder = _Builder()
        for log in self.logs:
            builder.add_log(log, None)
        for witness in self.witnesses:
            builder.add_witness(witness, None)
        for group in self.groups:
            builder.add_group(group, None)
        builder.set_quorum(self.quorum, None)

    @cached_property
    def witness_by_name(self) -> dict[str, PolicyWitness]:
        """Witnesses by policy name."""
        return {w.name: w for w in self.witnesses}

    @cached_property
    def group_by_name(self) -> dict[str, PolicyGroup]:
        """Groups by name."""
        return {g.name: g for g in self.groups}

    def logs_for_origin(self, origin: str) -> tuple[PolicyLog, ...]:
        """The logs whose key name is ``origin`` (usually zero or one)."""
        # SPEC: tlog-policy — the log's key name MUST correspond to the log's origin line
        return tuple(log for log in self.logs if log.origin == origin)

    def quorum_witnesses(self) -> tuple[str, ...]:
        """Names of the witnesses that can count toward the quorum, in definition order."""
        reachable: set[str] = set()
        stack = [] if self.quorum is None else [self.quorum]
        while stack:
            name = stack.pop()
            group = self.group_by_name.get(name)
            if group is None:
                reachable.add(name)
            else:
                stack.extend(group.members)
        return tuple(w.name for w in self.witnesses if w.name in reachable)


def _parse_key(text: str, what: str, line: int) -> Verifier:
    try:
        return Verifier.from_vkey(text)
    except NoteError as exc:
        raise PolicyError(f"{what} key is not a valid vkey: {exc}", line) from None


def _parse_threshold(text: str, group: str, n: int, line: int) -> int:
    # SPEC: tlog-policy — `any` is a shorthand for k = 1, `all` for k = n
    if text == "any":
        return 1
    if text == "all":
        return n
    # SPEC: tlog-policy — a numeric k must be written in decimal
    if _DECIMAL.fullmatch(text) is None or len(text) > _MAX_THRESHOLD_DIGITS:
        raise PolicyError(f"group {quoted(group)} threshold {quoted(text)} is not 'any', 'all' or a decimal number", line)
    return int(text)


def _parse_line(fields: list[str], builder: _Builder, line: int) -> None:
    keyword, args = fields[0], fields[1:]
    if keyword == "log":
        if len(args) not in (1, 2):
            raise PolicyError(f"'log' takes a vkey and an optional URL, got {len(args)} fields", line)
        builder.add_log(PolicyLog(_parse_key(args[0], "log", line), args[1] if len(args) == 2 else None), line)
    elif keyword == "witness":
        if len(args) not in (2, 3):
            raise PolicyError(f"'witness' takes a name, a vkey and an optional URL, got {len(args)} fields", line)
        verifier = _parse_key(args[1], f"witness {quoted(args[0])}", line)
        builder.add_witness(PolicyWitness(args[0], verifier, args[2] if len(args) == 3 else None), line)
    elif keyword == "group":
        if len(args) < 3:
            raise PolicyError("'group' takes a name, a threshold and at least one member", line)
        name, threshold, members = args[0], args[1], tuple(args[2:])
        builder.add_group(PolicyGroup(name, _parse_threshold(threshold, name, len(members), line), members), line)
    elif keyword == "quorum":
        if len(args) != 1:
            raise PolicyError(f"'quorum' takes exactly one name, got {len(args)}", line)
        builder.set_quorum(None if args[0] == NONE else args[0], line)
    else:
        raise PolicyError(f"unknown keyword {quoted(keyword)} (expected one of {', '.join(KEYWORDS)})", line)


def parse_policy(data: bytes) -> Policy:
    """Parse a tlog-policy file.

    Returns the Policy. Raises PolicyError, naming the line and the problem,
    for: a control octet other than tab and newline; a last line without its
    newline; an unknown keyword; a wrong number of fields; a vkey that does not
    parse, a log key not of type 0x01 or a witness key not of type 0x04; two
    logs or two witnesses with the same public key; a name that is ``none`` or
    already defined; a group with a threshold not ``any``, ``all`` or decimal
    in 1..n; a group member that is ``none``, undefined on earlier lines,
    repeated, or already a member of another group; a quorum naming something
    undefined on earlier lines; more than one quorum line or none at all; a URL
    starting with ``#``.
    """
    if isinstance(data, str):
        data = _encode(data)
    lines = data.split(b"\n")
    # SPEC: tlog-policy — each line is terminated by ASCII newline
    if lines[-1]:
        raise PolicyError("the last line does not end in a newline", len(lines))
    builder = _Builder()
    for number, raw in enumerate(lines[:-1], start=1):
        bad = _FORBIDDEN_OCTET.search(raw)
        if bad:
            raise PolicyError(f"control octet 0x{bad.group()[0]:02x} at column {bad.start() + 1}", number)
        stripped = raw.strip(b" \t")
        # SPEC: tlog-policy — empty (whitespace-only) lines and lines starting with '#' are ignored
        if not stripped or stripped.startswith(b"#"):
            continue
        fields = [_decode(f) for f in _WHITESPACE.split(stripped)]
        _parse_line(fields, builder, number)
    builder.finish(None)
    return Policy(tuple(builder.logs), tuple(builder.witnesses), tuple(builder.groups), builder.quorum)


def _threshold_word(group: PolicyGroup) -> str:
    n = len(group.members)
    if group.threshold == n:
        return "all"
    if group.threshold == 1:
        return "any"
    return str(group.threshold)


def _line(fields: Iterable[str | None]) -> bytes:
    return b" ".join(_encode(f) for f in fields if f is not None) + b"\n"


def format_policy(policy: Policy) -> bytes:
    """The canonical text of ``policy``: logs, witnesses, groups in order, then the quorum.

    One space between fields, no comments or blank lines; a threshold equal to
    the member count is written ``all``, a threshold of 1 ``any``, others in
    decimal. ``parse_policy(format_policy(p)) == p``. Never raises.
    """
    out = [_line(("log", log.verifier.vkey(), log.url)) for log in policy.logs]
    out += [_line(("witness", w.name, w.verifier.vkey(), w.url)) for w in policy.witnesses]
    out += [_line(("group", g.name, _threshold_word(g), *g.members)) for g in policy.groups]
    out.append(_line(("quorum", NONE if policy.quorum is None else policy.quorum)))
    return b"".join(out)
