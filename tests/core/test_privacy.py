"""Masking of personal data (pipeline/core/privacy.py) on realistic posts: what must go and,
as important, what must stay (cashtags, prices, dates, subreddits)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from pipeline.core import novelty
from pipeline.core.privacy import EMAIL_TOKEN, HANDLE_TOKEN, PHONE_TOKEN, mask_personal_data
from pipeline.core.records import Item, Rejected, Score
from pipeline.core.scoring import score_from_probs
from pipeline.core.step import CoreConfig, score_items
from pipeline.reference import load_symbols

E, P, H = EMAIL_TOKEN, PHONE_TOKEN, HANDLE_TOKEN


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (
            "RT @jim_cramer: $AAPL to the moon, DM me john.doe+stocks@gmail.com or call "
            "(212) 555-0199",
            f"RT {H}: $AAPL to the moon, DM me {E} or call {P}",
        ),
        (
            "Contact IR: investor.relations@tesla.com. Tel +1 650-681-5000",
            f"Contact IR: {E}. Tel {P}",
        ),
        (
            "UK desk +44 20 7946 0958, Berlin 0049 30 1234567, Paris +33 6 12 34 56 78",
            f"UK desk {P}, Berlin {P}, Paris {P}",
        ),
        ("Mumbai +91 98765 43210 for $INFY", f"Mumbai {P} for $INFY"),
        ("212.555.0199 or 212-555-0199", f"{P} or {P}"),
        (
            "Unsubscribe: https://news.example.com/u?email=jane.smith%40outlook.com&id=42",
            f"Unsubscribe: https://news.example.com/u?email={E}&id=42",
        ),
        (
            "https://example.com/share?to=bob@corp.co.uk&ref=$MSFT",
            f"https://example.com/share?to={E}&ref=$MSFT",
        ),
        ("tips: mailto:tips@marketwatch.com", f"tips: mailto:{E}"),
        ("Q3 beat; call 555-0199 for the deck", f"Q3 beat; call {P} for the deck"),
        ("whatsapp me on 555 0199", f"whatsapp me on {P}"),
        (
            "u/DeepFuckingValue posted in r/wallstreetbets about $GME",
            f"{H} posted in r/wallstreetbets about $GME",
        ),
        ("via medium.com/@analyst/tsla-deep-dive", f"via medium.com/{H}/tsla-deep-dive"),
        ("@elonmusk @SEC_News $TSLA", f"{H} {H} $TSLA"),
    ],
)
def test_personal_data_is_masked(text: str, masked: str) -> None:
    assert mask_personal_data(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "$BRK.B @ $350.25, buy @185, +2.5% on 2024-01-15 at 10:30, 3,000,000 shares, up 12.5%",
        "Apple (AAPL) shares rose 3.4% to $189.98 in 2023; Q3 2024 revenue $94.9B vs $89.3B est",
        "Dow +350 pts, S&P 500 +1.2%, Nasdaq 14,000, 10-year yield 4.25%",
        "Year range 2019-2020 and 2021-2022; ticker @ 150.00; EPS $1.52 vs $1.39",
        "$AAPL $MSFT $NVDA cashtags and r/stocks, r/investing stay",
        "Order id 2125550199 (no separators: an id as likely as a phone)",
        "AT&T @ $17, Procter & Gamble",
        "",
        "Plain headline with no personal data",
    ],
)
def test_market_text_is_kept(text: str) -> None:
    assert mask_personal_data(text) == text


def test_masking_is_idempotent_and_never_leaves_fragments() -> None:
    text = "ping @trader_joe or trader.joe@yahoo.com, +44 20 7946 0958"
    once = mask_personal_data(text)
    assert mask_personal_data(once) == once
    for secret in ("trader_joe", "yahoo", "7946", "0958"):
        assert secret not in once


# -- applied to the text on scored records, nothing else ---------------------------------------


class _Recorder:
    version = "rec-1"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def score(self, texts: Sequence[str], *, max_batch: int = 32) -> list[Score]:
        self.seen += texts
        return [score_from_probs((0.1, 0.2, 0.7)) for _ in texts]


POST = "RT @jim_cramer: $AAPL breaks out, email alerts@stockpicks.io or call (212) 555-0199"


@pytest.mark.parametrize("mask", [True, False])
def test_score_items_masks_only_the_carried_text(mask: bool) -> None:
    item = Item(id="1", source="twitter", published_at_ms=1_700_000_000_000, text=POST)
    scorer = _Recorder()
    (records,) = score_items([item], load_symbols(), scorer, mask_personal_data=mask)
    assert not isinstance(records, Rejected)
    (rec,) = records
    assert rec.ticker == "AAPL"
    assert scorer.seen == [POST]  # the model sees the original: masking changes no score
    assert rec.fingerprint == novelty.fingerprint(POST)  # nor the near-duplicate verdict
    if mask:
        assert rec.text == f"RT {H}: $AAPL breaks out, email {E} or call {P}"
    else:
        assert rec.text == POST


def test_masking_is_on_by_default_and_follows_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.config import Settings

    assert CoreConfig().mask_personal_data is True
    for key in [k for k in __import__("os").environ if k.startswith("FINSENT_")]:
        monkeypatch.delenv(key)
    assert Settings(_env_file=None).core_config(()).mask_personal_data is True  # type: ignore[call-arg]
    monkeypatch.setenv("FINSENT_MASK_PERSONAL_DATA", "false")
    assert Settings(_env_file=None).core_config(()).mask_personal_data is False  # type: ignore[call-arg]


def test_backtest_driver_passes_the_setting() -> None:
    import json

    from pipeline.backtest.run import run_core

    item = Item(id="1", source="twitter", published_at_ms=1_700_000_000_000, text=POST)
    on = run_core([item], load_symbols(), _Recorder(), CoreConfig())
    off = run_core([item], load_symbols(), _Recorder(), CoreConfig(mask_personal_data=False))
    kept_on, kept_off = json.dumps(on.states), json.dumps(off.states)  # the evidence in state
    assert "$AAPL breaks out" in kept_on and "555-0199" not in kept_on and "@jim" not in kept_on
    assert "555-0199" in kept_off and "alerts@stockpicks.io" in kept_off
