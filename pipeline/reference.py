"""Load the shipped symbol table (or a user's CSV) into a core `SymbolTable`. The one place
that reads it from disk, so the core stays free of I/O.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

from pipeline.core.symbols import SymbolTable

DEFAULT_SYMBOLS = Path(__file__).parent / "data" / "symbols.csv"


@lru_cache(maxsize=4)
def load_symbols(path: str | Path | None = None) -> SymbolTable:
    """CSV with columns symbol, name[, aliases (';'-separated), sector]."""
    p = Path(path) if path else DEFAULT_SYMBOLS
    if not p.is_file():
        raise FileNotFoundError(f"symbol table not found: {p}")
    with p.open(encoding="utf-8", newline="") as f:
        return SymbolTable.from_rows(csv.DictReader(f))
