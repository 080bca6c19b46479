"""Evidence texts kept beside a ticker's state in the table, not inside it.

A window's evidence rows (`aggregate._added`: [|w*score|, item id, source, score, w, text]) carry
the item's text, and the same item stands in every window it moved (1m, 5m, 1h, 1d). The state
is rewritten to the changelog at every commit it changed in, so those texts were written again
and again: about a third of a state's bytes. Here the stored state keeps each row with its text
as None plus the list of item ids (`text_ids`); each text is a table key of its own
(`{ticker}/text/{item id}`), written once when the item first enters the evidence and deleted
when no window shows it any more. Reading puts the texts back, so the core (and the backtest,
which never stores anything) sees the same state as before: this is storage, not state shape.

The write order makes a crash harmless (`Tickers.write_back`): new texts, then the state (the
commit point), then deletions, all in the ticker's one changelog partition.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

TEXT = 5  # the text's place in an evidence row
MARK = "/text/"


def text_key(ticker: str, item_id: str) -> str:
    """Table key of the evidence text of `item_id` in `ticker`'s state."""
    return f"{ticker}{MARK}{item_id}"


def split(state: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """`state` with every evidence row's text replaced by None, and {item id: text}. A row whose
    item id already has another text keeps its own inline (never expected: one record per item
    and ticker reaches the windows), so nothing is ever lost."""
    texts: dict[str, str] = {}
    windows: dict[str, Any] = {}
    for name, accs in state.get("windows", {}).items():
        windows[name] = {}
        for start, acc in accs.items():
            rows = []
            for row in acc.get("top", ()):
                item_id, text = row[1], row[TEXT]
                if isinstance(text, str) and texts.setdefault(item_id, text) == text:
                    row = [*row[:TEXT], None, *row[TEXT + 1 :]]
                rows.append(row)
            windows[name][start] = {**acc, "top": rows}
    return {**state, "windows": windows}, texts


def join(stored: Mapping[str, Any], text_of: Callable[[str], str | None]) -> dict[str, Any]:
    """The state `split` made `stored` from: each row without a text gets its item's text from
    `text_of` (a missing one reads as ""), and `text_ids` is dropped."""
    windows = {
        name: {
            start: {
                **acc,
                "top": [
                    [*row[:TEXT], text_of(row[1]) or "", *row[TEXT + 1 :]]
                    if row[TEXT] is None
                    else row
                    for row in acc.get("top", ())
                ],
            }
            for start, acc in accs.items()
        }
        for name, accs in stored.get("windows", {}).items()
    }
    return {**{k: v for k, v in stored.items() if k != "text_ids"}, "windows": windows}


def read(table: Any, ticker: str, stored: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """`stored` (a ticker's value as the table holds it) with its evidence texts put back from
    `table`; a value without `text_ids` (written before texts moved out, or none) as it is."""
    if stored is None or "text_ids" not in stored:
        return dict(stored) if stored is not None else None

    def text_of(item_id: str) -> str | None:
        value = table.get(text_key(ticker, item_id))
        return value.get("text") if isinstance(value, dict) else None

    return join(stored, text_of)
