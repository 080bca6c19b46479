"""Backtest driver: run the core over a historical feed in-process and judge it against prices.

Reading guide: `run.py` (the driver, same loop as the stream's agents; feeds are read by
`pipeline.feeds`, shared with `finsent replay`), `result.py` (what a run produces), `prices.py`
(daily prices), `evaluate.py` (pure: IC, hit rate, event study), `report.py` and `plots.py`.
Imports point one way: run -> report -> result, report -> evaluate and plots.
"""

__all__ = ["evaluate", "plots", "prices", "report", "result", "run"]
