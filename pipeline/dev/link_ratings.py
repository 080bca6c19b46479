"""Generate analyst-rating headlines to test the issuer rule: "<Broker> Upgrades <Company> to Buy".

Usage:
    python -m pipeline.dev.link_ratings --out tests/data/linking/ratings_generated.jsonl
    finsent link --eval tests/data/linking/ratings_generated.jsonl

1. rated companies: a seeded sample of the table's common stocks (S&P 500 members and the rest);
2. each written as people write it: the table's display name, sometimes with ", Inc." dropped;
3. brokers: listed ones (their own tickers must never be linked) and unlisted ones;
4. templates in the styles of the rating feeds (Benzinga, MarketWatch, StreetInsider).
The rows carry `tickers` = [rated company] and `issuers` = [broker's ticker, if listed].
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

from pipeline.core.symbols import SymbolTable

BROKERS = {
    "JPMorgan": "JPM",
    "JP Morgan": "JPM",
    "J.P. Morgan": "JPM",
    "Morgan Stanley": "MS",
    "Goldman Sachs": "GS",
    "Citigroup": "C",
    "Citi": "C",
    "Bank of America": "BAC",
    "BofA Securities": "BAC",
    "Wells Fargo": "WFC",
    "Barclays": "BCS",
    "Deutsche Bank": "DB",
    "UBS": "UBS",
    "RBC Capital": "RY",
    "Jefferies": "JEF",
    "Raymond James": "RJF",
    "Stifel": "SF",
    "Piper Sandler": "PIPR",
    "Oppenheimer": "OPY",
    "Evercore ISI": "EVR",
    "KeyBanc": "KEY",
    "Mizuho": "MFG",
    "Nomura": "NMR",
    "Truist": "TFC",
    "B. Riley": "RILY",
    "Needham": "",
    "Wedbush": "",
    "Baird": "",
    "Argus": "",
    "CFRA": "",
    "BTIG": "",
    "Loop Capital": "",
    "Canaccord Genuity": "",
    "Susquehanna": "",
    "Guggenheim": "",
    "Wolfe Research": "",
}
RATINGS = ["Buy", "Neutral", "Overweight", "Underweight", "Outperform", "Hold", "Sell"]
TEMPLATES = [
    "{b} Upgrades {c} to {r}",
    "{b} Downgrades {c} to {r}",
    "{b} Maintains {r} on {c}, Raises Price Target to ${p}",
    "{b} Maintains {r} on {c}, Lowers Price Target to ${p}",
    "{b} Initiates Coverage On {c} with {r} Rating, Announces Price Target of ${p}",
    "{b} Reiterates {r} on {c}",
    "{b} Assumes {c} at {r}",
    "{b} Raises {c} PT to ${p}",
    "{b} Lowers PT on {c} to ${p}",
    "{c} upgraded to {rl} from {rl2} at {b}",
    "{c} downgraded to {rl} at {b}",
    "{c} stock price target raised to ${p} from ${p2} at {b}",
    "{c} PT Lowered to ${p} at {b}",
    "{c} initiated at {rl} by {b}",
    "{b}, {b2} Upgrade {c}",
]


def written_name(name: str, rng: random.Random) -> str:
    """How a headline writes the company: drop ", Inc." / "(Class A)" / "(The)" most times."""
    short = re.sub(r"\s*\((?:Class [A-C]|The)\)\s*$", "", name)
    if rng.random() < 0.7:
        short = re.sub(r",?\s+(?:Inc\.?|Corp\.?|Corporation|Co\.?|plc|Ltd\.?)$", "", short)
    return short


def generate(symbols: SymbolTable, n: int, seed: int = 12) -> list[dict[str, object]]:
    """`n` seeded headlines as labelled rows: the rated company as `tickers` and `subject`, the
    listed brokers' tickers as `issuers` (never to be linked), the template's shape as `pick`."""
    rng = random.Random(seed)
    stocks = sorted(s for s, c in symbols.companies.items() if c.kind == "stock" and c.name)
    brokers = sorted(BROKERS)
    rows: list[dict[str, object]] = []
    for _ in range(n):
        sym = rng.choice(stocks)
        b, b2 = rng.sample(brokers, 2)
        template = rng.choice(TEMPLATES)
        r, r2 = rng.sample(RATINGS, 2)
        p = rng.randint(5, 400)
        text = template.format(
            b=b,
            b2=b2,
            c=written_name(symbols.companies[sym].name, rng),
            r=r,
            rl=r.lower(),
            rl2=r2.lower(),
            p=p,
            p2=p + rng.randint(1, 20),
        )
        issuers = {BROKERS[b]} | ({BROKERS[b2]} if "{b2}" in template else set())
        rows.append(
            {
                "text": text,
                "tickers": [sym],
                "subject": sym,
                "issuers": sorted(i for i in issuers if i and i != sym),
                "pick": template.replace("{b}", "B")
                .replace("{b2}", "B2")
                .replace("{c}", "C")
                .replace("${p2}", "$P2")
                .replace("${p}", "$P")
                .replace("{rl2}", "r2")
                .replace("{rl}", "r")
                .replace("{r}", "R"),
                "source": "generated",
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Write the generated headlines as JSONL (`python -m pipeline.dev.link_ratings --out FILE`)."""
    from pipeline.reference import load_symbols

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("-n", type=int, default=1000)
    p.add_argument("--seed", type=int, default=12)
    args = p.parse_args(argv)
    rows = generate(load_symbols(), args.n, args.seed)
    with args.out.open("w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    print(f"wrote {len(rows)} headlines to {args.out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
