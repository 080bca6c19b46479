"""Daily prices (`pipeline.backtest.prices`): opens adjusted with the close's factor, so splits
and dividends are no returns. Data is generated here (fresh clone)."""

from __future__ import annotations

from pathlib import Path

from pipeline.backtest.prices import read_prices


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_read_prices_adjusts_open(tmp_path: Path) -> None:
    d = tmp_path / "prices"
    d.mkdir()
    _write(
        d / "abc.csv",
        [
            "Date,Open,High,Low,Close,Adj Close,Volume",
            "2014-01-02,10,11,9,20,10,1",
            "2014-01-03,21,22,20,22,11,1",
        ],
    )
    p = read_prices(d)
    assert list(p["ticker"].unique()) == ["ABC"]
    assert p["adj_open"].tolist() == [5.0, 10.5]
