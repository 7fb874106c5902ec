"""Offline proofs of logging: write a C2SP tlog-proof bundle for a file, and check one without a node.

A bundle written here is a ``c2sp.org/tlog-proof@v1`` bundle (see
``core.quorum.tlogproof``) whose ``extra`` data is the log entry itself (the record's
bytes). ``extra`` is not authenticated by the format, but nothing here trusts
it: the entry is accepted only if its RFC 6962 leaf hash is the one the
inclusion proof leads from to the cosigned checkpoint's root, so a changed
entry, proof, index or checkpoint is refused.
"""

from __future__ import annotations

from pathlib import Path

import grpc

from pypi_witness.bounded_file import read_bounded
from pypi_witness.client.verdict import SourceAnswer, statement
from pypi_witness.core.tlog.note import Verifier
from pypi_witness.core.quorum.policy import Policy
from pypi_witness.core.records.format import FileRecord, parse_record
from pypi_witness.core.quorum.tlogproof import TlogProof, format_tlog_proof, parse_tlog_proof, verify_bundle
from pypi_witness.core.errors import MalformedError, NotFoundError, RecordError, VerificationError
from pypi_witness.rpc.client import LogClient
from pypi_witness.client.verifying import VerifyingClient

# The largest bundle read: a checkpoint with cosignatures, a proof of at most 64 hashes and one entry.
MAX_BUNDLE_BYTES = 1 << 20


async def fetch_bundle(
    address: str, verifier: Verifier, filename: str, credentials: grpc.ChannelCredentials | None = None
) -> tuple[bytes, FileRecord]:
    """A tlog-proof bundle for ``filename``'s first file entry in the log at ``address``, and that entry.

    Everything is verified first (the checkpoint's signature with
    ``verifier``, the inclusion proof, the record). The bundle's checkpoint
    is the node's note verbatim, with every cosignature it carries. Raises
    NotFoundError if the log holds no file entry for ``filename``; the errors
    of ``VerifyingClient.lookup`` otherwise.
    """
    async with LogClient(address, credentials=credentials) as node:
        accepted, (lookup,) = await VerifyingClient(node, verifier).lookup([filename])
    entry = next((e for e in lookup.entries if type(e.record) is FileRecord), None)
    if entry is None:
        size = accepted.checkpoint.checkpoint.size
        raise NotFoundError(f"{filename} is not in the log of {address} (checked up to size {size})")
    bundle = TlogProof(entry.index, entry.proof, accepted.checkpoint.note, extra=entry.leaf)
    return format_tlog_proof(bundle), entry.record  # type: ignore[return-value]


def bundle_answer(path: Path, policy: Policy, extra_logs: tuple[Verifier, ...] = ()) -> SourceAnswer:
    """Check the bundle file at ``path`` against ``policy``; its entry as a trusted source's answer.

    Raises VerificationError (naming the file) for anything that does not
    check out, malformed bundles included, since a damaged bundle is as
    untrustworthy as a forged one: no entry in the bundle, a checkpoint not
    signed by a trusted log, a failing inclusion proof, a quorum not met, an
    entry that is not a file record. MalformedError if the file cannot be read, is not a
    regular file or holds more than MAX_BUNDLE_BYTES.
    """
    data = read_bounded(path, MAX_BUNDLE_BYTES, "tlog-proof bundle")
    try:
        bundle = parse_tlog_proof(data)
        if bundle.extra is None:
            raise VerificationError("it carries no log entry (no 'extra' line), so there is nothing to check")
        verified = verify_bundle(bundle, policy, leaf=bundle.extra, extra_logs=extra_logs)
        record = parse_record(bundle.extra)
    except (MalformedError, VerificationError) as e:
        kind = "is malformed" if isinstance(e, MalformedError) and not isinstance(e, RecordError) else "fails"
        raise VerificationError(f"bundle {path} {kind}: {e}") from None
    if type(record) is not FileRecord:
        raise VerificationError(f"bundle {path} proves a {record.kind.value} record, not a file")
    signed = verified.checked.signed
    origin, size = signed.checkpoint.origin, signed.checkpoint.size
    found = statement(f"bundle {path}", origin, size, True, [(verified.index, record)])
    assert found is not None
    return SourceAnswer(f"bundle {path}", origin, size, True, None, {record.filename: found})
