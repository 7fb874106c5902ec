"""This node as a witness of other logs: its cosigning key, its state, and add-checkpoint.

A data directory holds, next to the log (see ``pypi_witness.signing.log``)::

    witness/        the LMDB witness state (store.witness_state)
    witness.key     the witness's private key (type 0x04, cosignature/v1), mode 0600
    witness.vkey    the witness's verifier key (public): give it to the logs it cosigns

``Witness`` is the witness key's one signing gate. Every cosignature the key
makes goes through ``Witness._cosign``: the checks of ``core.tlog.witness``
against the state stored for the log, the new state stored by
compare-and-swap (durable before the signature exists), then the
cosignature. So the key never cosigns a smaller tree than one it cosigned, a
second root for a size it cosigned, or a tree not proven consistent with the
last one it cosigned, whichever path asks:

* ``add_checkpoint``: C2SP tlog-witness's add-checkpoint (gRPC, HTTP);
* ``cosign_proven``: a head the gossip accepted, with the proof it checked;
* ``cosign_own``: the node's own log, proven from the log itself.

The only other use of the key is ``envelope_signer``: it signs messages that
begin with a context line of this project's (``ENVELOPE_CONTEXTS``), which no
cosigned message (``cosignature/v1``) or note can begin with.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from pypi_witness.core.tlog.cosignature import Cosignature, cosign
from pypi_witness.core.tlog.note import ALG_COSIGNATURE_V1, Note, Signer, Verifier, format_note, parse_note
from pypi_witness.core.tlog.witness import CheckedRequest, WitnessRequest, check_request, decide
from pypi_witness.core.tlog.witness import default_witness_name as default_witness_name  # the one definition, re-exported
from pypi_witness.core.errors import ConfigError, ConflictError, NoteError, ProvenEquivocatorError
from pypi_witness.signing.keys import generate_signer, read_signer, write_private_key, write_verifier_key
from pypi_witness.store.witness_state import WitnessStateStore

STATE_DIR = "witness"
PRIVATE_KEY_FILE = "witness.key"
VERIFIER_KEY_FILE = "witness.vkey"
# A request whose compare-and-swap lost a race is decided again against the
# state that won, this many times at most; then its ConflictError is the answer.
MAX_SWAP_ATTEMPTS = 3
# What the key may sign besides cosignatures: messages that begin with one of these lines.
ENVELOPE_CONTEXTS = (b"pypi-witness/gossip-exchange/v1\n",)


def new_witness_signer(name: str) -> Signer:
    """A new cosigning key (type 0x04) named ``name``. ConfigError if ``name`` cannot name a key."""
    try:
        return generate_signer(name, ALG_COSIGNATURE_V1)
    except NoteError as e:
        raise ConfigError(f"witness name {name!r} cannot name a key: {e}") from None


def write_witness_key(data_dir: Path, signer: Signer) -> None:
    """Write ``witness.key`` (mode 0600) and ``witness.vkey`` in ``data_dir``.

    Raises ConfigError if either file exists already or cannot be written.
    """
    for file in (PRIVATE_KEY_FILE, VERIFIER_KEY_FILE):
        if (data_dir / file).exists():
            raise ConfigError(f"{data_dir / file} already exists; refusing to overwrite a witness key")
    write_private_key(data_dir / PRIVATE_KEY_FILE, signer)
    write_verifier_key(data_dir / VERIFIER_KEY_FILE, signer.verifier())


def init_witness_key(data_dir: Path, name: str) -> Signer:
    """Create a witness key named ``name`` in ``data_dir`` (``write_witness_key``); return it.

    Raises ConfigError as ``new_witness_signer`` and ``write_witness_key`` do.
    """
    signer = new_witness_signer(name)
    write_witness_key(data_dir, signer)
    return signer


def read_witness_key(path: Path, name: str | None = None) -> Signer:
    """The cosigning key in ``path``; if ``name`` is given, the key must have it.

    Raises ConfigError as ``signing.keys.read_signer`` does, or if the key is not a
    cosigner key (type 0x04) or has another name.
    """
    signer = read_signer(path)
    if signer.alg != ALG_COSIGNATURE_V1:
        raise ConfigError(f"{path} holds a key of type 0x{signer.alg:02x}, not a witness (cosigner, 0x04) key")
    if name is not None and signer.name != name:
        raise ConfigError(f"{path} holds the witness key {signer.name!r}, not {name!r}")
    return signer


class EnvelopeSigner:
    """The witness key for messages that are not cosignatures (gossip envelopes).

    ``sign`` raises ConfigError for a message that does not begin with one of
    ``ENVELOPE_CONTEXTS``: so nothing it signs can pass as a cosignature.
    """

    def __init__(self, signer: Signer) -> None:
        self.name = signer.name
        self._signer = signer

    def sign(self, message: bytes) -> bytes:
        if not message.startswith(ENVELOPE_CONTEXTS):
            raise ConfigError("the witness key signs no message without a context line of its own")
        return self._signer.sign(message)


class Witness:
    """Cosigns the logs in ``logs`` (origin -> trusted keys) with ``signer``, remembering in ``state``.

    ``clock`` gives the cosignature's timestamp (POSIX seconds). Thread-safe:
    every method may run in any thread at once (the state store serialises
    the writes). ``signer`` is held privately: the gate is the only way to it.
    """

    def __init__(
        self,
        state: WitnessStateStore,
        signer: Signer,
        logs: Mapping[str, Sequence[Verifier]],
        *,
        clock: Callable[[], int] = lambda: int(time.time()),
    ) -> None:
        if signer.alg != ALG_COSIGNATURE_V1:
            raise ConfigError(f"witness key {signer.name!r} is not a cosigner key (type 0x04)")
        self.state = state
        self._signer = signer
        self.logs = {origin: tuple(keys) for origin, keys in logs.items()}
        self._clock = clock
        self._evidence_against: Callable[[str], str | None] = lambda origin: None
        # origin -> (size, the checkpoint with its log's verified signatures and this cosignature).
        self._latest: dict[str, tuple[int, bytes]] = {}
        self._latest_lock = threading.Lock()

    def refuse_equivocators(self, evidence_against: Callable[[str], str | None]) -> None:
        """From now on, refuse every log for which ``evidence_against(origin)`` names evidence (an id).

        ``evidence_against`` is called from any thread and must not raise
        (the gossip machine's ``refuses_to_cosign``, read without a lock:
        an origin, once proven, stays proven).
        """
        self._evidence_against = evidence_against

    @property
    def verifier(self) -> Verifier:
        return self._signer.verifier()

    @property
    def name(self) -> str:
        return self._signer.name

    def envelope_signer(self) -> EnvelopeSigner:
        """The key for gossip envelopes (see ``EnvelopeSigner``)."""
        return EnvelopeSigner(self._signer)

    def add_checkpoint(self, request: WitnessRequest) -> Cosignature:
        """Check ``request`` (core.tlog.witness rules 0-9), store the new state, and cosign.

        Returns the cosignature, after the new state is durable. Raises
        ProvenEquivocatorError (after rules 0-2) for a log refused by
        ``refuse_equivocators``, and what
        ``core.tlog.witness.check_request`` and ``decide`` raise (a ConflictError
        carries the size last cosigned), and StoreError if the state cannot be
        read or written. Nothing is stored when a check fails.
        """
        return self._cosign(check_request(self.logs, request), request.note)

    def cosign_proven(self, note: bytes, old_size: int, proof: Sequence[bytes]) -> Cosignature:
        """Cosign a head the gossip accepted: ``note`` extends the tree of ``old_size`` by ``proof``.

        ``proof`` is RFC 9162's (empty from size 0). It is needed only if this
        witness cosigned a smaller tree of the log before: if it never cosigned
        the log (first use) or cosigned exactly this size, the request is made
        from there with no proof, and the ladder decides as for add-checkpoint
        (the same root again, or EquivocationError). Raises what
        ``add_checkpoint`` raises; a ConflictError carrying the size last
        cosigned means: prove from that size, or (if it is larger) never.
        """
        checked = check_request(self.logs, WitnessRequest(old_size, tuple(proof), note))
        known = self.state.get(checked.checkpoint.origin)
        if known is None or known.size == checked.checkpoint.size:
            checked = CheckedRequest(checked.checkpoint, 0 if known is None else known.size, ())
        return self._cosign(checked, note)

    def cosign_own(self, note: bytes, prove: Callable[[int, int], Sequence[bytes]]) -> Cosignature:
        """Cosign this node's own log's ``note``, proven from the size last cosigned by ``prove``.

        ``prove(old_size, new_size)`` gives RFC 9162's consistency proof from
        the log (it is called only for 0 < old_size < new_size). Raises what
        ``cosign_proven`` raises, and what ``prove`` raises.
        """
        checked = check_request(self.logs, WitnessRequest(0, (), note))
        size = checked.checkpoint.size
        known = self.state.get(checked.checkpoint.origin)
        old = 0 if known is None else known.size
        proof = tuple(prove(old, size)) if 0 < old < size else ()
        return self.cosign_proven(note, old, proof)

    def latest(self, origin: str) -> bytes | None:
        """The largest checkpoint of ``origin`` cosigned since this process started, or None.

        It carries the log's signatures that verified and this witness's
        cosignature (C2SP tlog-witness's monitoring checkpoint). Held in
        memory: after a restart a log's checkpoint is back with its next
        cosignature. Never raises.
        """
        with self._latest_lock:
            held = self._latest.get(origin)
        return None if held is None else held[1]

    def _remember(self, origin: str, size: int, note: bytes, cosignature: Cosignature) -> None:
        parsed = parse_note(note)  # parsed once already by check_request: cannot fail
        trusted = {(key.name, key.key_id) for key in self.logs.get(origin, ())}
        signatures = [s for s in parsed.signatures if (s.name, s.key_id) in trusted]
        kept = format_note(Note(parsed.text, (*signatures, cosignature.to_note_signature())))
        with self._latest_lock:
            held = self._latest.get(origin)
            if held is None or held[0] <= size:
                self._latest[origin] = (size, kept)

    def _cosign(self, checked: CheckedRequest, note: bytes) -> Cosignature:
        """THE signing gate: rules 4-9 against the durable state, compare-and-swap, then the cosignature."""
        origin = checked.checkpoint.origin
        # Issue 5: a log proven to equivocate is never cosigned again (before any state is read).
        evidence = self._evidence_against(origin)
        if evidence is not None:
            raise ProvenEquivocatorError(
                f"this witness holds evidence {evidence} that {origin} equivocated; it cosigns that log no more",
                evidence,
            )
        for attempt in range(MAX_SWAP_ATTEMPTS):
            known = self.state.get(origin)
            new = decide(checked, known)
            if new == known:
                break  # the same checkpoint again: nothing to store
            try:
                self.state.compare_and_swap(origin, known, new)
                break
            except ConflictError:
                if attempt == MAX_SWAP_ATTEMPTS - 1:
                    raise
                # Another request changed the state since it was read: decide again against it.
        cosignature = cosign(checked.checkpoint, self._signer, self._clock())
        self._remember(origin, checked.checkpoint.size, note, cosignature)
        return cosignature

    def close(self) -> None:
        self.state.close()


def open_witness(
    data_dir: Path,
    logs: Mapping[str, Sequence[Verifier]],
    *,
    key_path: Path | None = None,
    name: str | None = None,
    create_name: str | None = None,
    clock: Callable[[], int] | None = None,
) -> Witness:
    """Open the witness in ``data_dir`` (its key, its state).

    ``key_path`` is the private key (default ``witness.key`` in ``data_dir``);
    ``name``, if given, must be the key's name. If the default key file does
    not exist and ``create_name`` is given, a key of that name is created
    (``init_witness_key``). Raises ConfigError for a missing, unreadable or
    wrong key, StoreError if the state cannot be opened.
    """
    path = key_path or data_dir / PRIVATE_KEY_FILE
    if key_path is None and not path.exists() and create_name is not None:
        signer = init_witness_key(data_dir, create_name)
    else:
        signer = read_witness_key(path, name)
    state = WitnessStateStore(data_dir / STATE_DIR)
    kwargs = {} if clock is None else {"clock": clock}
    return Witness(state, signer, logs, **kwargs)
