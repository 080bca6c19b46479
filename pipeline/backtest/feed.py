"""Moved: the feed readers are `pipeline.feeds` (shared by replay and backtest), daily prices
`pipeline.backtest.prices`. This re-export only keeps
`tests/integration/test_live_equals_backtest.py` (line 28) importable until it imports
`pipeline.feeds`; delete this file then. Nothing in `pipeline/` imports it."""

from pipeline.feeds import load_feed

__all__ = ["load_feed"]
