"""The node's configuration: one TOML file, every key optional, every key checked.

``load_config(path)`` reads a file; ``Config.default(data_dir)`` gives the
defaults without one (the demo). Relative paths in a file are relative to the
file's directory. An unknown section or key, or a value of the wrong type or
range, is refused with a ConfigError naming the key, e.g.
``limits.max_entries_per_page: must be an integer from 1 to 100000, got -3``.

Keys (README-ready)::

    [node]
    data_dir    = "pypi-witness-data"  # the log, its keys and its store live here
    listen      = "127.0.0.1:6962"     # host:port the gRPC API listens on ([v6addr]:port for IPv6;
                                       # port 0 picks a free one). Loopback by default: expose on purpose.
    origin      = ""                   # the log's origin (its key name), e.g. "witness.example.org/pypi".
                                       # Needed to create a new log on first start; otherwise, if set,
                                       # it must match the log's (guards against the wrong data_dir).
    log_key     = "<data_dir>/log.key" # the log's private key file (mode 0600)
    tls_cert    = ""                   # the server's TLS certificate chain (PEM); set with tls_key to serve TLS
    tls_key     = ""                   # its private key (PEM)
    tls_client_ca = ""                 # CA certificates (PEM): if set, clients must present a certificate it signed
    allow_plaintext = false            # serve a non-loopback listen address, and dial non-loopback peers,
                                       # without TLS (refused otherwise)

    [limits]
    grpc_workers          = 4        # threads that run gRPC reads (also the most reads running at once)
    max_concurrent_rpcs   = 128      # calls accepted at once, running or queued; more get RESOURCE_EXHAUSTED
    max_message_bytes     = 4194304  # largest request or response message, bytes
    max_entries_per_page  = 1000     # leaves per GetEntries answer; a longer range gets a shorter page
    max_lookup_filenames  = 1000     # filenames per LookupFilenames call; more get INVALID_ARGUMENT
    lookup_threads        = 2        # threads doing filename lookups for all calls together
    witness_writes        = 32       # AddCheckpoint calls waiting on the witness's durable write at once,
                                     # in threads of their own beside grpc_workers; more get
                                     # RESOURCE_EXHAUSTED. So a slow disk never holds up reads
    writer_queue          = 8        # write batches waiting for the log's one writer
    stop_grace_seconds    = 5.0      # on SIGINT/SIGTERM, time in-flight calls get before they are cancelled
    stop_timeout_seconds  = 20.0     # on SIGINT/SIGTERM, the process exits within this, stopped or not
                                     # (more than stop_grace_seconds); a second signal exits at once
    reader_check_seconds  = 10.0     # how often the node frees the store's reader slots of dead processes

    [witness]                          # this node as a witness (cosigner) of its peers' logs
    key          = "<data_dir>/witness.key" # the witness's private key file (mode 0600; type 0x04,
                                            # cosignature/v1). Created on first start if this key is not set.
    name         = "<origin>/witness"  # the witness key's name: the name of a key created on first
                                       # start; otherwise, if set, it must be the key's name
    push_timeout_seconds = 5.0         # each AddCheckpoint call to a peer; a slower peer is retried later
    retry_min_seconds    = 0.5         # first wait before pushing to a peer again after a failure
    retry_max_seconds    = 60.0        # the wait doubles per failure, up to this

    [[peers]]    # peer witnesses, one table each:
    name         = "acme"                      # a unique label, used in log lines
    log_vkey     = "acme.example/pypi+..."     # required: the peer's log verifier key (type 0x01); its name
                                               # is the log's origin. This node cosigns that log.
    address      = "witness.acme.example:6962" # the peer's gRPC host:port: this node pushes its own
                                               # checkpoints there for the peer to cosign
    witness_vkey = "acme.example/pypi/witness+..." # the peer's witness key (type 0x04): the cosignatures
                                               # it returns must verify with it. address and witness_vkey
                                               # go together; without them this node only cosigns the
                                               # peer's log.
    tls_ca       = "acme-ca.pem"               # CA certificates (PEM) the peer's server certificate must chain
                                               # to: connect to the peer over TLS. Unset: plaintext (loopback
                                               # only, unless node.allow_plaintext)
    tls_cert     = ""                          # this node's client certificate (PEM) for a peer that requires
    tls_key      = ""                          # one (mutual TLS), and its key; need tls_ca

    [gossip]     # exchanging checkpoints and evidence with the peers that have an address
    interval            = 10.0   # seconds between gossip rounds...
    jitter              = 2.0    # ...plus a random 0 to jitter seconds
    fanout              = 1      # peers exchanged with each round
    evidence_fanout     = 0      # peers new evidence goes to at once (0: every peer)
    stale_peer_rounds   = 30     # a peer not heard from for this many rounds is reported stale (0: off)
    stale_origin_rounds = 60     # a log whose head has not grown for this many rounds is reported (0: off)
    proof_retry_rounds  = 2      # rounds to wait for a consistency proof before asking again
    proof_attempts      = 3      # requests per proof before giving up until gossip brings the head again
    notes_per_origin    = 64     # signed checkpoints remembered per log, to catch a same-size fork
    pending_per_origin  = 4      # consistency proofs awaited per log at once
    timeout_seconds     = 5.0    # the longest one exchange with a peer may take
    dispute_buckets_per_round = 4  # filename buckets compared with a peer per round to find
                                 # disputes (a filename logged with other hashes); 0: off, at most 64

    [index]      # the package index to follow; without a url the node follows none
    url                  = ""      # e.g. "https://pypi.org" (XML-RPC at /pypi, JSON API at /pypi/<p>/<v>/json)
    poll_seconds         = 60.0    # time between polls of the changelog
    concurrency          = 8       # requests to the index at once
    requests_per_second  = 20.0    # request starts per second at most (0: no limit); a 429 pauses all
    batch_rows           = 2000    # changelog rows logged per transaction (with the cursor)
    timeout_seconds      = 30.0    # the longest one request may take, body included
    max_body_bytes       = 16777216  # a larger answer is refused (alarm bad-response)
    max_attempts         = 5       # tries per request before it is reported and skipped
    backoff_max_seconds  = 300.0   # the longest wait between tries (exponential, jittered)
    start_serial         = 0       # the changelog serial to start from when the log has no cursor
    audit_releases       = 20      # releases the log holds that each poll fetches again
    sample_rate          = 0.0     # share of new files downloaded and hashed (0 to 1)
    late_file_days       = 14      # a file added this long after its release is reported (0: off)
    stale_grace_seconds  = 3600.0  # a release 404s this long after its announcement: vanished, not stale
    [policy]     # the quorum policy (C2SP tlog-policy) this node judges cosigned checkpoints by
    file   = ""  # the policy file; read and checked at start. Unset: no policy
    faults = 0   # faulty witnesses the policy must withstand; a weaker policy is warned about at start
    [privacy]    # what the node keeps about clients, and how much it lets each one ask
    key_dir            = ""        # directory for the client-hashing keys, one file per period (mode 0600),
                                   # outside data_dir (refused inside it). Unset: keys live only in memory
                                   # (a restart starts a new key). Old period files are deleted.
    retention_seconds  = 604800    # 7 days: one key period, and how long access events are kept
    window_seconds     = 3600      # access events count calls per client per window; divides retention
    flush_seconds      = 5.0       # how often counted access events are written, in one transaction
    max_pending_events = 100000    # (window, client) pairs held in memory between writes; more are dropped
    ipv6_prefix        = 64        # an IPv6 client is its first N bits (one /64 is one subscriber)
    proxy_token_file   = ""        # file holding the token a trusted front proxy sends (x-witness-proxy-token);
                                   # unset: proxy metadata (x-witness-client, x-witness-country) is ignored
    rate_limit         = true      # token bucket per hashed client; over-limit calls get RESOURCE_EXHAUSTED
    rate_per_second    = 100.0     # tokens a client's bucket regains per second
    rate_burst         = 500.0     # tokens a client's bucket holds (a new client starts full)
    rate_clients       = 65536     # buckets kept in memory, least recently used dropped first (~150 B each)
    peer_rate_per_second = 1000.0  # the same for authenticated peer witnesses (identity "peer:<key name>"),
    peer_burst         = 5000.0    # in their own table, so clients cannot use up or evict a peer's budget
    rate_peers         = 1024      # peer buckets kept in memory
    method_costs       = {}        # tokens per call by method name, e.g. {GetEntries = 10}; see
                                   # privacy.gate.DEFAULT_COSTS for the defaults; other methods cost 1

    [http] and [witnessing]: see config_http and config_logs.

    The node never writes a client's IP address to disk or to its logs.
    (gRPC's own debug tracing, GRPC_TRACE / GRPC_VERBOSITY=debug, would log
    peers: leave it off.)
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from pypi_witness.config.gossip import GossipSettings, read_gossip
from pypi_witness.config.http import HttpConfig, read_http
from pypi_witness.config.logs import WitnessingConfig, read_witnessing
from pypi_witness.config.tls import check_node_tls, check_peer_tls, node_tls_checks, peer_tls_checks
from pypi_witness.core.tlog.note import ALG_COSIGNATURE_V1, ALG_ED25519, Verifier
from pypi_witness.config.values import (
    boolean as _boolean,
    check_address as _check_address,
    check_index_url,
    check_listen as _check_listen,
    check_origin as _check_origin,
    costs as _costs,
    fraction as _fraction,
    integer as _integer,
    path as _path,
    positive as _positive,
    positive_seconds as _positive_seconds,
    read_table as _read_table,
    seconds as _seconds,
    string as _string,
    table as _table,
    vkey as _vkey,
)
from pypi_witness.bounded_file import read_bounded
from pypi_witness.core.errors import ConfigError, quoted

DEFAULT_DATA_DIR = "pypi-witness-data"
# Port 6962, after RFC 6962; loopback so that nothing is exposed by accident.
DEFAULT_LISTEN = "127.0.0.1:6962"
DEFAULT_KEY_FILE = "log.key"  # inside data_dir, as pypi_witness.signing.log writes it


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """[node]: where the log lives and where the node listens."""

    data_dir: Path
    listen: str = DEFAULT_LISTEN
    origin: str | None = None
    log_key: Path | None = None  # None: data_dir / DEFAULT_KEY_FILE
    tls_cert: Path | None = None  # None: plaintext (config_tls: loopback only unless allow_plaintext)
    tls_key: Path | None = None
    tls_client_ca: Path | None = None  # None: no client certificates asked for
    allow_plaintext: bool = False

    @property
    def log_key_path(self) -> Path:
        """The private key file: ``log_key``, or the default inside ``data_dir``."""
        return self.log_key if self.log_key is not None else self.data_dir / DEFAULT_KEY_FILE


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    """[limits]: every pool, queue and size bound of the node (see the module docstring)."""

    # 4: calls are Python under one GIL, so more threads only add contention
    # (scripts/bench_rpc.py on 2 cores: 8 threads gave 10-25 % fewer proofs/s
    # than 2 or 4), but a thread waits out each lookup handled in trio, so
    # two more than lookup_threads keep proofs flowing during lookups.
    grpc_workers: int = 4
    # 128: four times 32 busy clients; a queued call costs a few KB.
    max_concurrent_rpcs: int = 128
    # 4 MiB: gRPC's own default; a full page of entries is ~0.4 MB, a verdict record
    # of 16 statements ~55 KB (core.records.verdict: at most ~0.5 MiB), so any record
    # fits; a lookup whose answer would not is refused with INVALID_ARGUMENT.
    max_message_bytes: int = 4 << 20
    # 1000 leaves of ~300-400 bytes: ~0.4 MB and ~5 ms of reading a page.
    max_entries_per_page: int = 1000
    # 1000: a large lock file in one call, ~0.1 s of work and ~1 MB answered.
    max_lookup_filenames: int = 1000
    # 2: lookups share these threads, so a flood of lookups cannot starve proofs.
    lookup_threads: int = 2
    # 8 batches: enough to keep the writer busy, a bound on memory held.
    writer_queue: int = 8
    # 5 s: long enough for any bounded call, short enough for a service manager.
    stop_grace_seconds: float = 5.0
    # 20 s: the grace, then a write to commit and the stores to close (well under a
    # second each); below systemd's 90 s default before it kills the process.
    stop_timeout_seconds: float = 20.0
    # 32: an AddCheckpoint holds its gRPC thread until the witness state is on disk; with
    # 300 ms fsyncs and the writes sharing grpc_workers, 8 of them held every thread and
    # GetCheckpoint waited ~270 ms. These threads are the writes' own; a waiting thread
    # costs no CPU, and the writes waiting share one fsync (group commit).
    witness_writes: int = 32
    # 10 s: a check scans the reader table (512 slots, well under a millisecond);
    # reader processes would have to die faster than 50 a second to fill the
    # table between checks, and a read that finds it full checks at once.
    reader_check_seconds: float = 10.0


@dataclass(frozen=True, slots=True)
class IndexConfig:
    """[index]: the package index to follow (see the module docstring; url "" follows none)."""

    url: str = ""
    # 60 s: PyPI adds ~12,000 files a day, a few a minute; a minute's delay is fine for a witness.
    poll_seconds: float = 60.0
    # 8: enough to hide each request's latency; PyPI's CDN serves the JSON API.
    concurrency: int = 8
    # 20/s: gentle on PyPI; its XML-RPC allows 3,600 calls an hour, and the changelog
    # takes one call per 50,000 rows, the JSON API one per release.
    requests_per_second: float = 20.0
    # 2,000 rows per transaction: a few MB of records, one fsync a batch.
    batch_rows: int = 2000
    timeout_seconds: float = 30.0
    # 16 MiB: PyPI's largest release JSON is well under 1 MiB.
    max_body_bytes: int = 16 << 20
    max_attempts: int = 5
    backoff_max_seconds: float = 300.0
    # 0: the whole changelog. A log backfilled by `import` starts at the export's serial.
    start_serial: int = 0
    # 20 releases a poll: ~29,000 a day at 60 s polls, each audit one request.
    audit_releases: int = 20
    # 0: download nothing; 0.01 hashes 1 % of new files (chosen secretly).
    sample_rate: float = 0.0
    # PyPI's rule since 2026: a release older than 14 days accepts no new files. 0: off.
    late_file_days: int = 14
    # 1 h: far beyond PyPI's CDN cache lifetimes, short enough that a hidden release
    # cannot hold the witness back for long.
    stale_grace_seconds: float = 3600.0


@dataclass(frozen=True, slots=True)
class WitnessConfig:
    """[witness]: this node's cosigning key and how it pushes its checkpoints to peers."""

    key: Path | None = None  # None: data_dir / witness.key, created on first start
    name: str | None = None  # None: <origin>/witness for a new key; any name for an existing one
    # 5 s: an AddCheckpoint is ~1 ms of work; a peer this slow is retried later.
    push_timeout_seconds: float = 5.0
    # 0.5 s, doubling to 60 s: a restarting peer is cosigning again within a
    # second, a peer that is down costs one failed call a minute.
    retry_min_seconds: float = 0.5
    retry_max_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class PeerConfig:
    """One [[peers]] table: a peer whose log this node cosigns, and which may cosign this node's log."""

    name: str
    log_vkey: Verifier
    address: str | None = None  # None (with witness_vkey None): only cosign the peer's log
    witness_vkey: Verifier | None = None
    tls_ca: Path | None = None  # None: plaintext (loopback only unless node.allow_plaintext)
    tls_cert: Path | None = None  # a client certificate for mutual TLS, with tls_key
    tls_key: Path | None = None

    @property
    def origin(self) -> str:
        """The peer log's origin: the name of its key."""
        return self.log_vkey.name


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """[policy]: the tlog-policy file (None: no policy) and the faulty witnesses it must withstand."""

    file: Path | None = None
    # 0: warn about a policy that lets a log split views with every witness honest (quorum none, or two
    # quorums sharing no witness); what `federation init`'s majority policy withstands, and verify's default.
    faults: int = 0


@dataclass(frozen=True, slots=True)
class PrivacyConfig:
    """[privacy]: client hashing keys, access-event retention, rate limits (see the module docstring)."""

    key_dir: Path | None = None
    # 7 days, as the issue asks: long enough to see a week's abuse pattern.
    retention_seconds: int = 7 * 24 * 3600
    # 1 hour: fine enough to tell a burst from steady use, 168 windows a week.
    window_seconds: int = 3600
    # 5 s: one small write transaction every 5 s, at most 5 s of counts lost on a crash.
    flush_seconds: float = 5.0
    # 100,000 pairs of ~300 B: a bound of ~30 MB between writes.
    max_pending_events: int = 100_000
    ipv6_prefix: int = 64
    proxy_token_file: Path | None = None
    rate_limit: bool = True
    # 100/s, burst 500: a lock file's lookups, or 5 pages of 1000 entries a second.
    rate_per_second: float = 100.0
    rate_burst: float = 500.0
    # 65,536 buckets of ~150 B: ~10 MB at most.
    rate_clients: int = 65536
    peer_rate_per_second: float = 1000.0
    peer_burst: float = 5000.0
    rate_peers: int = 1024
    method_costs: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Config:
    """A whole, checked configuration."""

    node: NodeConfig
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    witness: WitnessConfig = field(default_factory=WitnessConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    peers: tuple[PeerConfig, ...] = ()
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    gossip: GossipSettings = field(default_factory=GossipSettings)
    http: HttpConfig = field(default_factory=HttpConfig)  # [http]: config_http
    witnessing: WitnessingConfig = field(default_factory=WitnessingConfig)  # [witnessing]: config_logs

    @classmethod
    def default(cls, data_dir: Path, *, origin: str | None = None, listen: str = DEFAULT_LISTEN) -> Config:
        """Every default, with the log in ``data_dir``. ConfigError for a bad origin or listen address."""
        if origin is not None:
            _check_origin("node.origin", origin)
        _check_listen("node.listen", listen)
        node = NodeConfig(Path(data_dir), listen, origin)
        check_node_tls(node)
        return cls(node)


# --- checking values ------------------------------------------------------------


_LIMIT_CHECKS: dict[str, Callable[[str, object], Any]] = {
    "grpc_workers": _integer(1, 1024),
    "max_concurrent_rpcs": _integer(1, 1_000_000),
    # gRPC keeps message limits in a C int; 16 KiB still holds a lookup's answer.
    "max_message_bytes": _integer(16 << 10, (1 << 31) - 1),
    "max_entries_per_page": _integer(1, 100_000),
    "max_lookup_filenames": _integer(1, 100_000),
    "lookup_threads": _integer(1, 1024),
    "witness_writes": _integer(1, 1024),
    "writer_queue": _integer(1, 1_000_000),
    "stop_grace_seconds": _seconds,
    "stop_timeout_seconds": _positive_seconds,
    "reader_check_seconds": _positive_seconds,
}
assert set(_LIMIT_CHECKS) == {f.name for f in fields(LimitsConfig)}


_INDEX_CHECKS: dict[str, Callable[[str, object], Any]] = {
    "url": check_index_url,
    "poll_seconds": _positive_seconds,
    "concurrency": _integer(1, 256),
    "requests_per_second": _seconds,  # 0: no limit
    "batch_rows": _integer(1, 50_000),
    "timeout_seconds": _positive_seconds,
    "max_body_bytes": _integer(1 << 16, 1 << 30),
    "max_attempts": _integer(1, 100),
    "backoff_max_seconds": _positive_seconds,
    "start_serial": _integer(0, 2**63 - 1),
    "audit_releases": _integer(0, 10_000),
    "sample_rate": _fraction,
    "late_file_days": _integer(0, 36_500),
    "stale_grace_seconds": _seconds,
}
assert set(_INDEX_CHECKS) == {f.name for f in fields(IndexConfig)}


def _read_witness(table: Mapping[str, Any], base: Path) -> WitnessConfig:
    checks = {
        "key": _path(base),
        "name": _check_origin,
        "push_timeout_seconds": _seconds,
        "retry_min_seconds": _seconds,
        "retry_max_seconds": _seconds,
    }
    witness = WitnessConfig(**_read_table("witness", table, checks))
    if witness.push_timeout_seconds <= 0:
        raise ConfigError(f"witness.push_timeout_seconds: must be more than 0, got {witness.push_timeout_seconds}")
    if witness.retry_min_seconds <= 0:
        raise ConfigError(f"witness.retry_min_seconds: must be more than 0, got {witness.retry_min_seconds}")
    if witness.retry_max_seconds < witness.retry_min_seconds:
        raise ConfigError(
            f"witness.retry_max_seconds: must be at least retry_min_seconds ({witness.retry_min_seconds}), "
            f"got {witness.retry_max_seconds}"
        )
    return witness


def _peer_checks(base: Path) -> dict[str, Callable[[str, object], Any]]:
    return {
        "name": _string,
        "log_vkey": _vkey(ALG_ED25519, "a log key"),
        "address": _check_address,
        "witness_vkey": _vkey(ALG_COSIGNATURE_V1, "a witness (cosigner) key"),
        **peer_tls_checks(base),
    }


def _read_peers(peers: object, base: Path, allow_plaintext: bool) -> tuple[PeerConfig, ...]:
    """Every [[peers]] table, checked one by one and against each other (no two alike)."""
    if not isinstance(peers, list):
        raise ConfigError(f"peers: must be an array of tables ([[peers]]), got {quoted(peers)}")
    out: list[PeerConfig] = []
    seen: dict[tuple[str, object], int] = {}
    for i, raw in enumerate(peers):
        name = f"peers[{i}]"
        table = _read_table(name, _table(name, raw), _peer_checks(base))
        for required in ("name", "log_vkey"):
            if required not in table:
                raise ConfigError(f"{name}.{required}: required")
        if ("address" in table) != ("witness_vkey" in table):
            raise ConfigError(
                f"{name}: address and witness_vkey go together (push to the peer and check its cosignatures), "
                "or neither (only cosign its log)"
            )
        check_peer_tls(name, table, allow_plaintext)
        peer = PeerConfig(**table)
        unique = {
            "name": peer.name,
            "log_vkey": peer.origin,
            "address": peer.address,
            "witness_vkey": None if peer.witness_vkey is None else (peer.witness_vkey.name, peer.witness_vkey.key_id),
        }
        for key, value in unique.items():
            if value is None:
                continue
            if (key, value) in seen:
                what = "names the same log" if key == "log_vkey" else "is the same"
                raise ConfigError(f"{name}.{key}: {what} as peers[{seen[key, value]}].{key}; list each peer once")
            seen[key, value] = i
        out.append(peer)
    return tuple(out)


def _privacy_checks(base: Path) -> dict[str, Callable[[str, object], Any]]:
    return {
        "key_dir": _path(base),
        "retention_seconds": _integer(60, 10 * 365 * 24 * 3600),
        "window_seconds": _integer(1, 10 * 365 * 24 * 3600),
        "flush_seconds": _positive,
        "max_pending_events": _integer(1, 100_000_000),
        "ipv6_prefix": _integer(1, 128),
        "proxy_token_file": _path(base),
        "rate_limit": _boolean,
        "rate_per_second": _positive,
        "rate_burst": _positive,
        "rate_clients": _integer(1, 100_000_000),
        "peer_rate_per_second": _positive,
        "peer_burst": _positive,
        "rate_peers": _integer(1, 1_000_000),
        "method_costs": _costs,
    }


assert set(_privacy_checks(Path())) == {f.name for f in fields(PrivacyConfig)}


def check_privacy(privacy: PrivacyConfig, data_dir: Path) -> PrivacyConfig:
    """``privacy`` if its values agree with each other and with ``data_dir``.

    ConfigError if window_seconds does not divide retention_seconds, or
    key_dir or proxy_token_file lies inside data_dir (a copy or seizure of
    the data directory must not carry the key that its hashes were made with).
    """
    if privacy.retention_seconds % privacy.window_seconds:
        raise ConfigError(
            f"privacy.window_seconds: must divide privacy.retention_seconds "
            f"({privacy.window_seconds} does not divide {privacy.retention_seconds})"
        )
    data = Path(data_dir).resolve()
    for name in ("key_dir", "proxy_token_file"):
        path = getattr(privacy, name)
        if path is not None and Path(path).resolve().is_relative_to(data):
            raise ConfigError(f"privacy.{name}: {path} is inside node.data_dir {data_dir}; keep it outside")
    return privacy


def parse_config(data: Mapping[str, Any], base: Path) -> Config:
    """A Config from parsed TOML ``data``, relative paths taken from ``base``.

    Raises ConfigError naming the first unknown section or key or bad value.
    """
    sections = {"node", "limits", "witness", "index", "peers", "policy", "privacy", "gossip", "http", "witnessing"}
    for name in data:
        if name not in sections:
            raise ConfigError(f"{name}: unknown section (known: {', '.join(sorted(sections))})")
    node_table = _read_table(
        "node",
        _table("node", data.get("node", {})),
        {"data_dir": _path(base), "listen": _check_listen, "origin": _check_origin, "log_key": _path(base)}
        | node_tls_checks(base),
    )
    node = NodeConfig(**{"data_dir": base / DEFAULT_DATA_DIR, **node_table})
    check_node_tls(node)
    limits = LimitsConfig(**_read_table("limits", _table("limits", data.get("limits", {})), _LIMIT_CHECKS))
    if limits.stop_timeout_seconds <= limits.stop_grace_seconds:
        raise ConfigError(
            f"limits.stop_timeout_seconds: must be more than limits.stop_grace_seconds "
            f"({limits.stop_timeout_seconds:g} is not more than {limits.stop_grace_seconds:g})"
        )
    index = IndexConfig(**_read_table("index", _table("index", data.get("index", {})), _INDEX_CHECKS))
    policy = PolicyConfig(
        **_read_table("policy", _table("policy", data.get("policy", {})), {"file": _path(base), "faults": _integer(0, 1000)})
    )
    privacy = PrivacyConfig(**_read_table("privacy", _table("privacy", data.get("privacy", {})), _privacy_checks(base)))
    check_privacy(privacy, node.data_dir)
    witness = _read_witness(_table("witness", data.get("witness", {})), base)
    peers = _read_peers(data.get("peers", []), base, node.allow_plaintext)
    gossip = read_gossip(_table("gossip", data.get("gossip", {})))
    http = read_http(_table("http", data.get("http", {})), base, node)
    witnessing = read_witnessing(data.get("witnessing", {}), base, node.allow_plaintext)
    return Config(node, limits, witness, index, peers, policy, privacy, gossip, http, witnessing)


# The largest configuration file read (a node with a thousand peers is about 300 KB).
MAX_CONFIG_BYTES = 4 << 20


def load_config(path: Path) -> Config:
    """Read and check the TOML file at ``path``.

    Raises ConfigError (its message starting with the path) if the file cannot
    be read, is not a regular file of at most MAX_CONFIG_BYTES, is not TOML,
    or holds an unknown section or key or a bad value.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: cannot read the configuration: no such file")
    raw = read_bounded(path, MAX_CONFIG_BYTES, "configuration file", ConfigError)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    try:
        return parse_config(data, path.resolve().parent)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
