"""The HTTP face over TLS (the node's certificate by default, client certificates when asked), and a push over https."""

from __future__ import annotations

import dataclasses

import pytest
import trio

from pypi_witness.config.logs import WitnessingConfig
from pypi_witness.core.tlog.log_list import ListedLog
from pypi_witness.core.tlog.witness import open_cosignature
from pypi_witness.core.errors import UnavailableError
from pypi_witness.http.client import HttpWitnessClient, client_ssl_context
from tests.http.support import ForeignLog, http_config, start_http_node
from tests.rpc.support import vkey
from tests.runtime.test_tls import pki  # noqa: F401 - the fixture


async def test_add_checkpoint_over_mutual_tls(nursery, data_dir, pki):  # noqa: F811
    foreign = ForeignLog("tls.example/log")
    config = http_config(data_dir, witnessing=WitnessingConfig(logs=(ListedLog(foreign.verifier, foreign.origin),)))
    node = dataclasses.replace(config.node, tls_cert=pki / "node.pem", tls_key=pki / "node.key", tls_client_ca=pki / "ca.pem")
    http = dataclasses.replace(config.http, tls_cert=node.tls_cert, tls_key=node.tls_key, tls_client_ca=node.tls_client_ca)
    _, base = await start_http_node(nursery, dataclasses.replace(config, node=node, http=http))
    url = base.replace("http://", "https://")

    trusted = client_ssl_context(pki / "ca.pem", pki / "node.pem", pki / "node.key")
    async with HttpWitnessClient(url, ssl_context=trusted) as client:
        answer = await client.add_checkpoint(0, (), foreign.note(4))
    assert open_cosignature(foreign.note(4), answer, foreign.verifier, vkey(data_dir / "witness.vkey"))

    refusals = [
        client_ssl_context(pki / "ca.pem"),  # no client certificate
        client_ssl_context(pki / "other-ca.pem", pki / "node.pem", pki / "node.key"),  # the server is not trusted
        client_ssl_context(pki / "ca.pem", pki / "stranger.pem", pki / "stranger.key"),  # a stranger's certificate
    ]
    for context in refusals:
        with pytest.raises(UnavailableError), trio.fail_after(10):
            async with HttpWitnessClient(url, ssl_context=context) as client:
                await client.add_checkpoint(4, (), foreign.note(4))
    with pytest.raises(UnavailableError), trio.fail_after(10):  # plaintext to a TLS port
        async with HttpWitnessClient(base) as client:
            await client.add_checkpoint(4, (), foreign.note(4))
