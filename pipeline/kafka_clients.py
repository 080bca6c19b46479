"""kafka-python clients (admin, producer, consumer) configured from `Settings`: used by topic
creation, replay, the demo feed and tests. The faust worker builds its own (aiokafka) clients from
the same settings in `pipeline.stream.app`.
"""

from __future__ import annotations

from typing import Any

from pipeline.config import Settings


def client_kwargs(settings: Settings) -> dict[str, Any]:
    """Connection and security options shared by every kafka-python client."""
    kw: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers.split(","),
        "security_protocol": settings.security_protocol,
    }
    if settings.security_protocol.startswith("SASL"):
        kw.update(
            sasl_mechanism=settings.sasl_mechanism,
            sasl_plain_username=settings.sasl_username,
            sasl_plain_password=settings.sasl_secret(),
        )
    if settings.security_protocol.endswith("SSL"):
        if settings.ssl_cafile:
            kw["ssl_cafile"] = str(settings.ssl_cafile)
        if settings.ssl_certfile:
            kw["ssl_certfile"] = str(settings.ssl_certfile)
        if settings.ssl_keyfile:
            kw["ssl_keyfile"] = str(settings.ssl_keyfile)
    return kw


def admin(settings: Settings, **extra: Any) -> Any:
    from kafka import KafkaAdminClient

    return KafkaAdminClient(**client_kwargs(settings), **extra)


def producer(settings: Settings, **extra: Any) -> Any:
    from kafka import KafkaProducer

    opts: dict[str, Any] = {"acks": "all", "linger_ms": 5}
    opts.update(extra)
    return KafkaProducer(**client_kwargs(settings), **opts)


def consumer(settings: Settings, *topics: str, **extra: Any) -> Any:
    from kafka import KafkaConsumer

    opts: dict[str, Any] = {"auto_offset_reset": "earliest", "enable_auto_commit": False}
    opts.update(extra)
    return KafkaConsumer(*topics, **client_kwargs(settings), **opts)
