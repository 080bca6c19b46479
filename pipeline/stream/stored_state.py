"""How a ticker's state is stored in the table: evidence texts beside it, the novelty chain packed.

This is storage, not state shape: reading gives back exactly the state the core produced, so the
core (and the backtest, which never stores anything) is unchanged, and a value written before
either change reads as it is.

**Evidence texts.** A window's evidence rows (`aggregate._added`: [|w*score|, item id, source,
score, w, text]) carry the item's text, and the same item stands in every window it moved (1m,
5m, 1h, 1d). The state is rewritten to the changelog at every commit it changed in, so those
texts were written again and again: about a third of a state's bytes. The stored state keeps each
row with its text as None plus the list of item ids (`text_ids`); each text is a table key of its
own (`{ticker}/text/{item id}`), written once when the item first enters the evidence and deleted
when no window shows it any more. The write order makes a crash harmless (`Tickers.write_back`):
new texts, then the state (the commit point), then deletions, all in the ticker's one changelog
partition.

**Novelty chain.** Up to 256 entries [item id, exact hash, simhash, event ms]; as JSON the two
64-bit hashes alone are ~40 characters an entry. Stored, the numbers are one base64 string of
24 bytes per entry and the ids a list beside it (`pack_novelty`), about a third smaller.
"""

from __future__ import annotations

import base64
import struct
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


_ENTRY = struct.Struct("<QQq")  # exact hash, simhash (unsigned 64-bit), event ms


def pack_novelty(state: Mapping[str, Any]) -> dict[str, Any]:
    """`state` with its novelty chain packed: {"ids": [...], "packed": base64}. A chain whose
    numbers do not fit 64 bits (never expected) is left as it is."""
    entries = state.get("novelty", {}).get("entries")
    if not entries:
        return dict(state)
    try:
        raw = b"".join(_ENTRY.pack(e[1], e[2], e[3]) for e in entries)
    except (struct.error, TypeError):
        return dict(state)
    packed = {"ids": [e[0] for e in entries], "packed": base64.b64encode(raw).decode("ascii")}
    return {**state, "novelty": packed}


def unpack_novelty(stored: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of `pack_novelty`; an unpacked chain as it is."""
    chain = stored.get("novelty")
    if not isinstance(chain, dict) or "packed" not in chain:
        return dict(stored)
    raw = base64.b64decode(chain["packed"])
    numbers = [_ENTRY.unpack_from(raw, i * _ENTRY.size) for i in range(len(chain["ids"]))]
    entries = [[i, x, h, ms] for i, (x, h, ms) in zip(chain["ids"], numbers, strict=True)]
    return {**stored, "novelty": {"entries": entries}}


def read(table: Any, ticker: str, stored: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """`stored` (a ticker's value as the table holds it) as the state it stands for: evidence
    texts put back from `table`, the novelty chain unpacked; None stays None."""
    if stored is None:
        return None
    out = unpack_novelty(stored)
    if "text_ids" not in out:
        return out

    def text_of(item_id: str) -> str | None:
        value = table.get(text_key(ticker, item_id))
        return value.get("text") if isinstance(value, dict) else None

    return join(out, text_of)
