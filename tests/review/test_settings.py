"""FINSENT_REVIEW_*: a bad value is one line naming the variable, the value and what is accepted;
the values reach the core as its plain config; 0 a minute turns review off."""

from __future__ import annotations

import pytest

from pipeline.config import Settings
from pipeline.core.review import ReviewConfig
from pipeline.errors import ConfigError

pytestmark = pytest.mark.usefixtures("clean_finsent_env")


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [
        ("FINSENT_REVIEW_CONFIDENCE", "1.5", "from 0 to 1"),
        ("FINSENT_REVIEW_CONFIDENCE", "low", "valid number"),
        ("FINSENT_REVIEW_SAMPLE_RATE", "-0.1", "from 0 to 1"),
        ("FINSENT_REVIEW_MAX_PER_MINUTE", "-5", "0 or more"),
        ("FINSENT_REVIEW_MAX_PER_MINUTE", "ten", "valid integer"),
        ("FINSENT_REVIEW_STORY_TTL", "1 week", "ms|s|m|h|d"),
        ("FINSENT_REVIEW_STORY_TTL", "0", "above zero"),
        ("FINSENT_REVIEW_TOPIC", "sentiment review", "Kafka name"),
    ],
)
def test_a_bad_review_setting_is_one_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, accepted: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        Settings()
    msg = str(info.value)
    assert "\n" not in msg and f"{name}={value!r}" in msg and accepted in msg


def test_review_settings_reach_the_core(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().review_config() == ReviewConfig()  # one place for the defaults
    monkeypatch.setenv("FINSENT_REVIEW_CONFIDENCE", "0.5")
    monkeypatch.setenv("FINSENT_REVIEW_SAMPLE_RATE", "0.01")
    monkeypatch.setenv("FINSENT_REVIEW_MAX_PER_MINUTE", "0")
    monkeypatch.setenv("FINSENT_REVIEW_STORY_TTL", "6h")
    cfg = Settings().review_config()
    assert cfg == ReviewConfig(0.5, 0.01, 0, 6 * 3_600_000)
    assert not cfg.enabled
