"""Score the linker on a labelled set: precision, recall, no-link share, and errors by cause.

Rows are JSONL objects: `text`, `tickers` (the companies the text is about), `issuers` (banks or
brokers whose rating or opinion it reports), optional `pick` / `source` to group by. Companies
are compared by CIK, so GOOG and GOOGL, or BRK.A and BRK.B, are one company.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import cast

from pipeline.core.records import Item
from pipeline.core.symbols import SymbolTable
from pipeline.core.tickers import explain


def _key(symbols: SymbolTable, ticker: str) -> str:
    """What identifies a company in the comparison: its CIK when the table has one (so share classes
    are one company), else the resolved symbol, else the ticker as written."""
    sym = symbols.resolve(ticker)
    if sym is None:
        return ticker
    cik = symbols.companies[sym].cik
    return f"cik:{cik}" if cik else sym


def _ratio(a: int, b: int) -> float | None:
    """a / b to 4 places; None when b is 0 (no denominator is not 0 %)."""
    return round(a / b, 4) if b else None


def evaluate(rows: Sequence[Mapping[str, object]], symbols: SymbolTable) -> dict[str, object]:
    """Totals and per-group figures; `errors` lists every wrong link and miss with its cause."""
    totals: Counter[str] = Counter()
    groups: dict[str, Counter[str]] = defaultdict(Counter)
    causes: Counter[str] = Counter()
    errors: list[dict[str, object]] = []
    for i, row in enumerate(rows):
        text = str(row["text"])
        gold_t = [str(t) for t in row.get("tickers", []) or []]  # type: ignore[attr-defined]
        iss_t = [str(t) for t in row.get("issuers", []) or []]  # type: ignore[attr-defined]
        e = explain(Item(id=str(i), source="eval", published_at_ms=0, text=text), symbols)
        pred = {_key(symbols, m.ticker): m for m in e.mentions}
        gold = {_key(symbols, t): t for t in gold_t}
        issuers = {_key(symbols, t) for t in iss_t}
        rejected = {_key(symbols, s): why for s, why in e.rejected}
        c: Counter[str] = Counter()
        c["texts"] += 1
        c["no_link"] += not pred
        c["gold_texts"] += bool(gold)
        c["gold_texts_no_link"] += bool(gold) and not pred
        for k, m in pred.items():
            c["links"] += 1
            if k in gold:
                c["correct"] += 1
            elif k in issuers:
                c["issuer_links"] += 1
                causes[f"wrong: issuer linked ({m.how})"] += 1
                errors.append({"text": text, "error": "issuer", "ticker": m.ticker})
            else:
                c["wrong_entity"] += 1
                causes[f"wrong: {m.how}"] += 1
                errors.append({"text": text, "error": "wrong", "ticker": m.ticker, "how": m.how})
        for k, t in gold.items():
            in_table = symbols.resolve(t) is not None
            c["gold"] += 1
            c["gold_in_table"] += in_table
            if k in pred:
                c["found"] += 1
            else:
                why = rejected.get(k, "not found") if in_table else "not in table"
                causes[f"miss: {why}"] += 1
                errors.append({"text": text, "error": "miss", "ticker": t, "why": why})
        top = e.mentions[0].ticker if e.mentions else ""
        subject = str(row.get("subject") or "")
        if subject:
            c["subjects"] += 1
            c["subject_top"] += bool(top) and _key(symbols, top) == _key(symbols, subject)
        totals.update(c)
        for g in (f"pick={row.get('pick', '')}", f"source={row.get('source', '')}"):
            groups[g].update(c)
    return {
        "totals": _summary(totals),
        "groups": {g: _summary(c) for g, c in sorted(groups.items())},
        "causes": dict(causes.most_common()),
        "errors": errors,
    }


def _summary(c: Counter[str]) -> dict[str, object]:
    """The figures of one group (or the totals) from its counters."""
    return {
        "texts": c["texts"],
        "links": c["links"],
        "precision": _ratio(c["correct"], c["links"]),
        "recall": _ratio(c["found"], c["gold"]),
        "recall_in_table": _ratio(c["found"], c["gold_in_table"]),
        "wrong_entity_share": _ratio(c["wrong_entity"], c["links"]),
        "issuer_links": c["issuer_links"],
        "no_link_share": _ratio(c["no_link"], c["texts"]),
        "no_link_share_of_labelled": _ratio(c["gold_texts_no_link"], c["gold_texts"]),
        "subject_is_top": _ratio(c["subject_top"], c["subjects"]),
    }


def format_report(report: Mapping[str, object], misses: bool = False) -> str:
    """Plain-text report: totals, per group, causes (and every error with `misses`)."""
    cols = ["texts", "links", "precision", "recall", "recall_in_table", "wrong_entity_share"]
    cols += ["issuer_links", "no_link_share", "subject_is_top"]
    lines = ["group".ljust(34) + " ".join(c[:14].rjust(14) for c in cols)]
    groups = cast(Mapping[str, Mapping[str, object]], report["groups"])
    rows = {"ALL": cast(Mapping[str, object], report["totals"]), **groups}
    for name, s in rows.items():
        lines.append(name[:34].ljust(34) + " ".join(str(s[c]).rjust(14) for c in cols))
    lines.append("")
    lines += [f"{n:6d}  {cause}" for cause, n in report["causes"].items()]  # type: ignore[attr-defined]
    if misses:
        lines.append("")
        lines += [str(e) for e in report["errors"]]  # type: ignore[attr-defined]
    return "\n".join(lines)
