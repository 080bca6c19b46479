"""`kafka_clients.read_range`, which the agents use to fill an offset hole, on a real broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.kafka_clients import read_range
from tests.integration.harness import Env, produce


def test_reads_exactly_the_requested_offsets(kafka_bootstrap: str, tmp_path: Path) -> None:
    env = Env(kafka_bootstrap, tmp_path, overrides={"FINSENT_PARTITIONS": "1"})
    env.create_topics()
    settings = env.settings()
    produce(env, settings.news_topic, [(b"k%d" % i, b"v%d" % i, None) for i in range(10)])

    records = read_range(settings, settings.news_topic, 0, 3, 7)

    assert [r.offset for r in records] == [3, 4, 5, 6]
    assert [r.value for r in records] == [b"v3", b"v4", b"v5", b"v6"]
    assert records[0].key == b"k3"


def test_gives_up_with_a_clear_error_when_offsets_do_not_exist(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    env = Env(kafka_bootstrap, tmp_path, overrides={"FINSENT_PARTITIONS": "1"})
    env.create_topics()
    settings = env.settings()
    produce(env, settings.news_topic, [(None, b"only", None)])
    with pytest.raises(TimeoutError, match=r"0\.\.4"):
        read_range(settings, settings.news_topic, 0, 0, 5, timeout_s=2)
