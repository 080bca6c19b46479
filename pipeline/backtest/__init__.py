"""Backtest driver: run the core over a historical feed in-process and judge it against prices.

Reading guide: `feed.py` (readers, shared with `finsent replay`), `run.py` (the driver, same loop as
the stream's agents), `evaluate.py` (pure: IC, hit rate, event study), `report.py` and `plots.py`.
"""

__all__ = ["evaluate", "feed", "plots", "report", "run"]
