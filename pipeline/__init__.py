"""finsent: financial sentiment monitoring stream processor.

Reading guide: start with `pipeline/core/step.py` (the one function both drivers call), then
`pipeline/stream/agents.py` (the live Kafka driver) and `pipeline/backtest/run.py` (the replay
driver).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
