"""`finsent kafka start` stays where it was: a restarted local broker keeps its data dir's port,
and a first start takes 9092 (every command's default bootstrap) when it is free.

Why: a worker or a second shell configured with the broker's address must find it again after a
restart, without re-running `eval "$(finsent kafka start | grep ^export)"`. The port choice is
checked without Java (ports held by plain sockets); one test restarts a real broker.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.dev import kafka_local


@pytest.fixture
def preferred(monkeypatch: pytest.MonkeyPatch) -> int:
    """A free port standing in for 9092 (which another broker on this machine may hold)."""
    port = kafka_local.free_port()
    monkeypatch.setattr(kafka_local, "DEFAULT_PORT", port)
    return port


@pytest.fixture
def hold() -> Iterator[list[socket.socket]]:
    held: list[socket.socket] = []
    yield held
    for s in held:
        s.close()


def listen(port: int, held: list[socket.socket]) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    s.listen()
    held.append(s)


def test_first_start_takes_the_default_port_when_free(preferred: int, tmp_path: Path) -> None:
    port, controller = kafka_local.choose_ports(tmp_path)
    assert port == preferred and controller != port


def test_first_start_falls_back_to_a_free_port(
    preferred: int, tmp_path: Path, hold: list[socket.socket]
) -> None:
    listen(preferred, hold)
    port, _ = kafka_local.choose_ports(tmp_path)
    assert port != preferred and kafka_local.port_free(port)


def test_restart_reuses_the_data_dirs_ports(
    preferred: int, tmp_path: Path, hold: list[socket.socket]
) -> None:
    listen(preferred, hold)  # the default was taken at the first start ...
    first = kafka_local.choose_ports(tmp_path)
    kafka_local.write_config(tmp_path, *first, {})
    hold.pop().close()  # ... and is free again now: the broker still goes back to its own port
    assert kafka_local.saved_ports(tmp_path) == first
    assert kafka_local.choose_ports(tmp_path) == first


def test_a_taken_saved_port_is_a_clear_error(tmp_path: Path, hold: list[socket.socket]) -> None:
    port = kafka_local.free_port()
    kafka_local.write_config(tmp_path, port, kafka_local.free_port(), {})
    listen(port, hold)
    with pytest.raises(kafka_local.BrokerError, match=rf"port {port}.*--port N"):
        kafka_local.choose_ports(tmp_path)


def test_an_explicit_port_wins_and_is_kept(preferred: int, tmp_path: Path) -> None:
    kafka_local.write_config(tmp_path, kafka_local.free_port(), kafka_local.free_port(), {})
    explicit = kafka_local.free_port()
    ports = kafka_local.choose_ports(tmp_path, explicit)
    assert ports[0] == explicit
    kafka_local.write_config(tmp_path, *ports, {})
    assert kafka_local.choose_ports(tmp_path)[0] == explicit


@pytest.mark.kafka
@pytest.mark.slow
def test_a_real_broker_comes_back_on_its_port(preferred: int, tmp_path: Path) -> None:
    data_dir = tmp_path / "broker"
    first = kafka_local.start(data_dir, quiet=True)
    try:
        assert first.bootstrap == f"127.0.0.1:{preferred}"
        assert kafka_local.stop(data_dir)
        again = kafka_local.start(data_dir, quiet=True)
        assert again.bootstrap == first.bootstrap
        assert kafka_local.status(data_dir) == again
    finally:
        kafka_local.stop(data_dir)


def test_cluster_ids_never_look_like_an_option() -> None:
    """One uuid in 64 encodes with a leading "-", which kafka-storage took for a flag."""
    ids = [kafka_local.new_cluster_id() for _ in range(2000)]
    assert not [i for i in ids if i.startswith("-")] and len(set(ids)) == len(ids)
    assert all(len(i) == 22 for i in ids)
