"""Serving the HTTP face: a taken address is a ConfigError naming the key; port 0 reports the port it got."""

from __future__ import annotations

import dataclasses
import functools
import socket

import pytest
import trio

from pypi_witness.config.http import HttpConfig
from pypi_witness.core.errors import ConfigError
from pypi_witness.http.app import HttpApp
from pypi_witness.http.server import serve_http
from pypi_witness.signing.log import open_log
from pypi_witness.runtime.node import run_node
from tests.http.support import http_config, request


async def test_a_taken_http_port_is_refused_naming_the_key(data_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = http_config(data_dir)
        config = dataclasses.replace(config, http=dataclasses.replace(config.http, listen=f"127.0.0.1:{taken.getsockname()[1]}"))
        with pytest.raises(ConfigError, match=r"http.listen: cannot listen on 127.0.0.1:\d+"):
            await run_node(config)
    open_log(data_dir).close()  # the refused node closed its store


async def test_port_0_reports_the_url_it_got(data_dir):
    config = http_config(data_dir)
    log = open_log(data_dir, readonly=True)
    try:
        async with trio.open_nursery() as nursery:
            url = await nursery.start(functools.partial(serve_http, HttpApp(config, log), HttpConfig(listen="127.0.0.1:0")))
            assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
            assert (await request(url, "GET", "/checkpoint")).status == 200
            nursery.cancel_scope.cancel()
    finally:
        log.close()
