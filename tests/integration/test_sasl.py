"""Kafka security end to end: a second local broker that requires SASL/SCRAM-SHA-512, over TLS.

What production looks like (k8s/base: SASL_SSL, SCRAM-SHA-512, password from a mounted Secret file,
the cluster CA from another), reproduced on loopback:
1. the broker's client listeners are SASL_PLAINTEXT and SASL_SSL (self-signed CA from `openssl`);
   SCRAM credentials are written at format time (`tests/secure_broker.py`);
2. a real `finsent worker`, configured only through FINSENT_* env vars and a password *file*,
   authenticates over SASL_SSL, consumes a record and publishes its score;
3. wrong credentials fail fast and say why, for kafka-python (topics, replay) and for the worker
   (faust/aiokafka): an error within seconds, never a hang.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.dev import kafka_local
from tests import secure_broker as secure
from tests.integration.harness import Env, Worker, consume_all, json_values, produce, scored_only

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

USER, PASSWORD = "finsent", "s3cret-scram-pw"


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[secure.SecureBroker]:
    data_dir = tmp_path_factory.mktemp("kafka-sasl")
    broker = secure.start_secure(data_dir, {USER: PASSWORD}, tls=True)
    try:
        yield broker
    finally:
        kafka_local.stop(data_dir)


def secure_env(
    broker: secure.SecureBroker, tmp: Path, password: str, protocol: str = "SASL_SSL"
) -> Env:
    """An isolated Env that reaches the broker only through an authenticated listener; the
    password comes from a file, as the Kubernetes Secret mount provides it."""
    pw_file = tmp / f"password-{time.time_ns()}"
    pw_file.write_text(password + "\n")  # a trailing newline, as `kubectl create secret` leaves
    bootstrap = broker.sasl_ssl if protocol == "SASL_SSL" else broker.sasl_plaintext
    assert bootstrap is not None
    overrides = {
        "FINSENT_SECURITY_PROTOCOL": protocol,
        "FINSENT_SASL_MECHANISM": "SCRAM-SHA-512",
        "FINSENT_SASL_USERNAME": USER,
        "FINSENT_SASL_PASSWORD_FILE": str(pw_file),
    }
    if protocol == "SASL_SSL":
        overrides["FINSENT_SSL_CAFILE"] = str(broker.ca_file)
    return Env(bootstrap, tmp, overrides=overrides)


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_kafka_python_clients_authenticate(
    secure_broker: secure.SecureBroker, tmp_path: Path, protocol: str
) -> None:
    from pipeline.kafka_clients import admin

    env = secure_env(secure_broker, tmp_path, PASSWORD, protocol)
    env.create_topics()  # CreateTopics through the authenticated listener
    client = admin(env.settings())
    try:
        assert env.settings().news_topic in client.list_topics()
    finally:
        client.close()


def test_plaintext_client_is_refused_on_the_sasl_listener(
    secure_broker: secure.SecureBroker,
) -> None:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    started = time.monotonic()
    with pytest.raises(KafkaError):
        KafkaAdminClient(
            bootstrap_servers=secure_broker.sasl_plaintext,
            bootstrap_timeout_ms=5000,
            request_timeout_ms=5000,
        )
    assert time.monotonic() - started < 20


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_kafka_python_wrong_password_fails_fast(
    secure_broker: secure.SecureBroker,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    protocol: str,
) -> None:
    """kafka-python 3.x keeps retrying the bootstrap after a SCRAM failure and then raises
    `KafkaTimeoutError("Unable to bootstrap ...")`, bounded by `bootstrap_timeout_ms` (30 s by
    default). Its log usually shows only "socket disconnected": kafka-python 3.0 tends to lose
    the broker's SaslAuthenticate error response to the connection close that follows it, so this
    asserts the bound and the bootstrap failure, not the wording. The worker (aiokafka) does report
    `SaslAuthenticationFailed ... invalid credentials` (test below), which is what operators see."""
    from pipeline.kafka_clients import KafkaConnectError, admin

    env = secure_env(secure_broker, tmp_path, "not-the-password", protocol)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="kafka"), pytest.raises(KafkaConnectError) as err:
        admin(env.settings(), bootstrap_timeout_ms=5000, request_timeout_ms=5000)
    assert time.monotonic() - started < 20
    assert protocol in str(err.value) and "FINSENT_SASL_" in str(err.value)  # names the knobs
    assert "Bootstrap connection to" in caplog.text  # the failed attempts are logged


def test_worker_authenticates_over_sasl_ssl_and_processes(
    secure_broker: secure.SecureBroker, tmp_path: Path
) -> None:
    env = secure_env(secure_broker, tmp_path, PASSWORD)
    env.create_topics()
    w = Worker(env)
    try:
        w.wait_ready(timeout_s=240)
        s = env.settings()
        now_ms = int(time.time() * 1000)
        item = {
            "id": "sasl-1",
            "source": "newswire",
            "published_at": now_ms,
            "text": "$AAPL beats estimates and raises guidance; shares jump 8%",
        }
        produce(env, s.news_topic, [(b"sasl-1", json.dumps(item).encode(), now_ms)])
        scored = json_values(
            consume_all(env, s.scored_topic, expect=1, timeout_s=120, keep=scored_only)
        )
        assert any(r.get("ticker") == "AAPL" for r in scored), scored
    finally:
        rc = w.stop()
    assert rc == 0, w.log()


def test_worker_with_wrong_password_exits_with_a_clear_error(
    secure_broker: secure.SecureBroker, tmp_path: Path
) -> None:
    """faust's producer starts first; aiokafka's bootstrap gets SaslAuthenticationFailed from the
    broker and the worker exits non-zero within seconds (no silent retry loop)."""
    env = secure_env(secure_broker, tmp_path, "not-the-password")
    w = Worker(env)
    try:
        rc = w.proc.wait(timeout=120)
    finally:
        w.stop()
    log = w.log()
    assert rc != 0, log
    assert "SaslAuthenticationFailed" in log or "invalid credentials" in log, log


def test_the_probe_asks_aiokafka_for_the_refusal_kafka_python_lost(
    secure_broker: secure.SecureBroker, tmp_path: Path
) -> None:
    """kafka-python 3.0 often reports only "socket disconnected" for a refused SCRAM login; the
    worker's probe then asks aiokafka, which reads the broker's SaslAuthenticate error."""
    from pipeline.stream.worker import _sasl_refusal

    wrong = secure_env(secure_broker, tmp_path, "not-the-password").settings()
    assert "invalid credentials" in (_sasl_refusal(wrong) or "")
    assert _sasl_refusal(secure_env(secure_broker, tmp_path, PASSWORD).settings()) is None
