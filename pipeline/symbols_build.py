"""Build the shipped symbol table (`pipeline/data/symbols.csv`) from the public S&P 500 list.

Usage:
    python -m pipeline.symbols_build ../shared/data/reference/sp500_constituents.csv

1. read Symbol / Security / GICS Sector;
2. derive short aliases from the legal name ("Apple Inc." -> "Apple"), skipping ones that are
   ordinary words ("Target", "Ball") because names are matched case-sensitively but still collide;
3. add the curated aliases in `EXTRA_ALIASES` (brands and former names people actually write).
The source is PDDL 1.0 (public domain); a ticker universe is a fact table.
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

OUT = Path(__file__).parent / "data" / "symbols.csv"
SUFFIX_RE = re.compile(
    r"[,\s]+(Inc\.?|Incorporated|Corporation|Corp\.?|Company|Co\.?|Holdings?|Group|plc|PLC|Ltd\.?|"
    r"Limited|N\.V\.|S\.A\.|AG|SE|L\.P\.|LP|Class [A-C]|\(Class [A-C]\)|Technologies|Brands|"
    r"Industries|International|Enterprises|Systems|Worldwide|Financial|Services)$"
)
# Short names that are everyday words: matching them would link prose, not companies.
AMBIGUOUS = {
    "Target",
    "Ball",
    "Block",
    "Gap",
    "Visa",
    "Apple Hospitality",
    "Best",
    "Ford Motor",
    "Equity",
    "Public",
    "General",
    "American",
    "United",
    "First",
    "Southern",
    "Eversource",
    "Global",
    "Ventas",
    "Waters",
    "Genuine",
    "Assurant",
    "Progressive",
    "Principal",
    "Regions",
    "Citizens",
    "Fortive",
    "Leidos",
    "Allegion",
    "Broadcom",
    "Cardinal",
    "Old Dominion",
    "Pool",
    "Snap",
    "Match",
    "Corning",
    "Discover",
    "Dover",
    "Hess",
    "Lowe's",
    "Aptiv",
    "Entergy",
    "Steel",
    "Tyler",
    "Ferguson",
    "Flex",
    "Trane",
    "Fox",
    "Mosaic",
    "Xylem",
    "Nucor",
}
EXTRA_ALIASES = {
    "GOOGL": ["Google", "Alphabet"],
    "GOOG": [],
    "META": ["Facebook", "Meta Platforms", "Instagram"],
    "AMZN": ["Amazon", "AWS"],
    "MSFT": ["Microsoft"],
    "AAPL": ["Apple", "iPhone maker"],
    "BRK.B": ["Berkshire Hathaway", "Berkshire"],
    "XOM": ["Exxon", "ExxonMobil", "Exxon Mobil"],
    "JPM": ["JPMorgan", "JP Morgan", "J.P. Morgan"],
    "GS": ["Goldman Sachs", "Goldman"],
    "BA": ["Boeing"],
    "GE": ["General Electric", "GE Aerospace"],
    "WMT": ["Walmart", "Wal-Mart"],
    "PFE": ["Pfizer"],
    "TSLA": ["Tesla"],
    "NVDA": ["Nvidia", "NVIDIA"],
    "F": ["Ford"],
    "KO": ["Coca-Cola", "Coke"],
    "DIS": ["Disney"],
    "NFLX": ["Netflix"],
    "INTC": ["Intel"],
    "BAC": ["Bank of America", "BofA"],
    "C": ["Citigroup", "Citi"],
    "WFC": ["Wells Fargo"],
    "CVX": ["Chevron"],
    "JNJ": ["Johnson & Johnson", "J&J"],
    "T": ["AT&T"],
    "VZ": ["Verizon"],
    "MCD": ["McDonald's", "McDonalds"],
    "NKE": ["Nike"],
    "SBUX": ["Starbucks"],
    "TGT": [],
    "UNH": ["UnitedHealth"],
    "HD": ["Home Depot"],
    "MS": ["Morgan Stanley"],
    "IBM": ["IBM"],
    "ORCL": ["Oracle"],
    "CSCO": ["Cisco"],
    "AMD": ["AMD"],
    "CRM": ["Salesforce"],
    "PEP": ["PepsiCo", "Pepsi"],
    "MRK": ["Merck"],
    "ABBV": ["AbbVie"],
    "LLY": ["Eli Lilly", "Lilly"],
    "COST": ["Costco"],
    "UBER": ["Uber"],
    "ABNB": ["Airbnb"],
    "PYPL": ["PayPal"],
}


def short_name(name: str) -> str:
    prev = None
    while prev != name:
        prev, name = name, SUFFIX_RE.sub("", name).strip(" ,&")
    return name


def build(src: Path, out: Path = OUT) -> int:
    rows = list(csv.DictReader(src.open(encoding="utf-8")))
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["symbol", "name", "aliases", "sector"])
        for r in sorted(rows, key=lambda r: r["Symbol"]):
            sym, name = r["Symbol"].strip().upper(), r["Security"].strip()
            aliases = list(EXTRA_ALIASES.get(sym, []))
            short = short_name(name)
            if short != name and short not in AMBIGUOUS and len(short) > 3 and short not in aliases:
                aliases.append(short)
            w.writerow([sym, name, ";".join(a for a in aliases if a != name), r["GICS Sector"]])
    return len(rows)


if __name__ == "__main__":  # pragma: no cover
    n = build(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else OUT)
    print(f"wrote {n} symbols to {OUT}")
