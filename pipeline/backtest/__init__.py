"""Backtest driver: run the core over a historical feed in-process and judge it against prices.

Reading guide: `run.py` (the driver, same loop as the stream's agents; feeds are read by
`pipeline.feeds`, shared with `finsent replay`), `prices.py` (daily prices), `evaluate.py`
(pure: IC, hit rate, event study), `report.py` and `plots.py`.
"""

__all__ = ["evaluate", "plots", "prices", "report", "run"]
