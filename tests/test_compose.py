"""compose/ starts a federation with commands this version understands, and configurations it accepts."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from pypi_witness.cli.main import build_parser
from pypi_witness.cli.main import main
from pypi_witness.config.node import load_config

COMPOSE = Path(__file__).resolve().parent.parent / "compose" / "docker-compose.yml"


def commands() -> list[list[str]]:
    """Every JSON-array ``command:`` of the compose file."""
    return [json.loads(found) for found in re.findall(r'command: (\[.*\])', COMPOSE.read_text())]


def test_every_service_command_parses():
    found = commands()
    assert [c[0] for c in found] == ["fake-index", "serve", "serve", "serve"]
    text = COMPOSE.read_text()
    assert all(f'"127.0.0.1:808{i}:8080"' in text for i in (1, 2, 3)), "compose exposes each node's HTTP port"
    for command in found:
        build_parser().parse_args(command)  # SystemExit(2) if the CLI does not take it


def test_the_init_command_makes_configurations_the_nodes_accept(tmp_path, capsys):
    init = re.search(r"\(pypi-witness (federation init .*?)\n", COMPOSE.read_text(), re.S)
    assert init is not None
    args = shlex.split(init.group(1).replace("/fed", str(tmp_path / "fed")).replace("&&", ""))
    assert main(args) == 0
    for command in commands()[1:]:
        config = load_config(Path(command[-1].replace("/fed", str(tmp_path / "fed"))))
        assert config.node.listen == "0.0.0.0:6962"
        assert config.http.listen == "0.0.0.0:8080"
        assert config.index.url == "http://fakeindex:8000"
        assert sorted(p.address for p in config.peers) == sorted(
            f"node{i}:6962" for i in (1, 2, 3) if f"node{i}" != config.node.data_dir.name
        )
