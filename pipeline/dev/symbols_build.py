"""Build the shipped symbol table (`pipeline/data/symbols.csv`) from public reference data.

Usage:
    python -m pipeline.dev.symbols_build [--sec FILE] [--sp500 FILE] [--out FILE]

Defaults read `../shared/data/reference/` beside the checkout. Steps:

1. the SEC ticker–CIK–exchange list (public domain): every Nasdaq / NYSE / Cboe listing; the first
   ticker of a CIK is its primary symbol, other share classes become `other_symbols`; preferreds,
   warrants, units and OTC / unlisted rows are dropped;
2. the S&P 500 table (PDDL 1.0): current ticker, name and GICS sector win for its CIKs; where the
   two snapshots disagree for one CIK the SEC ticker and name stay as former symbol and alias
   (ABC "AmerisourceBergen" -> COR "Cencora");
3. names cleaned for matching ("AMAZON COM INC" -> "Amazon.com", "Amazon"); funds, ETFs and SPACs
   flagged in `kind`; one-word aliases that are ordinary words, places, people or generic name
   parts go to `weak_aliases`, which the linker accepts only with evidence (core/tickers.py);
4. the curated aliases in `EXTRA_ALIASES` (brands and former names people actually write).
A ticker universe is a fact table; the output is derived public-domain data.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from collections import Counter
from pathlib import Path

# Exact aliases that are everyday words or other things too (issue #12): linked only with evidence.
AMBIGUOUS = set(
    """Target Ball Block Gap Visa Apple Amazon Alphabet Best Equity Public General American United
    First Southern Global Genuine Progressive Principal Regions Citizens Cardinal Pool Snap Match
    Corning Discover Dover Steel Flex Fox Mosaic Edison Republic Dominion Constellation Cincinnati
    3M Oracle Square Meta Shell Gold Sun Sonic Carnival Dollar Tree Ford Lowe's Chase Mastercard
    Nasdaq Dow Cboe CME MSCI Intercontinental Exchange Ventas Waters Hess Tyler Ferguson Trane
    Xylem Nucor Aptiv Entergy Fortive Leidos Allegion Assurant Eversource Broadcom Gartner Progress
    Compass Root Unity Box Slack Zoom Riot Marathon Affirm Lucid""".split()  # noqa: SIM905
)
# Lower-case words: places, people's names, common words and brokers' short names that are also
# company names somewhere in the SEC list. A one-word alias equal to one of these needs evidence.
EXTRA_WEAK = set(
    """alabama alaska arizona arkansas california colorado connecticut delaware florida georgia
    hawaii idaho illinois indiana iowa kansas kentucky louisiana maine maryland massachusetts
    michigan minnesota mississippi missouri montana nebraska nevada ohio oklahoma oregon
    pennsylvania tennessee texas utah vermont virginia washington wisconsin wyoming carolina dakota
    america american atlantic pacific western eastern northern southern central national federal
    new york boston chicago dallas houston denver phoenix atlanta miami seattle detroit cincinnati
    cleveland pittsburgh baltimore charlotte nashville memphis portland vegas orleans jersey
    brooklyn london paris tokyo china chinese japan india brazil mexico canada europe european
    germany france italy spain korea taiwan israel ireland dominican czech dublin hong kong
    edison lincoln franklin jefferson hamilton madison jackson morgan stanley goldman wells
    william james john george charles henry thomas ford chase stifel raymond piper cowen jefferies
    baird wedbush needham oppenheimer loop benchmark maxim roth northland guggenheim evercore
    republic dominion constellation liberty freedom union royal crown eagle summit pinnacle pioneer
    heritage legacy frontier horizon vista apex alpha omega delta sigma nova star titan atlas
    phoenix orion apollo mercury jupiter saturn genesis fusion matrix vector element energy power
    ocean river lake mountain valley bay harbor capital trust security premier prime standard
    select choice value quality smart simple clear bright green blue red black white silver gold
    diamond platinum steel iron copper monday tuesday wednesday thursday friday saturday sunday
    january february march april may june july august september october november december""".split()  # noqa: SIM905
)
# Trailing words that a name can drop in everyday writing ("Vertex Pharmaceuticals" -> "Vertex").
GENERIC_TAIL = set(
    """technologies technology pharmaceuticals pharmaceutical pharma therapeutics biosciences
    bioscience biotherapeutics biopharma sciences financial bancorp bancshares banc bankshares
    systems services solutions networks software semiconductor semiconductors entertainment
    communications international industries resources brands enterprises properties realty
    medical health healthcare motors foods worldwide global labs laboratories bio partners
    energy oil gas petroleum mining minerals airlines air stores restaurants hotels resorts
    interactive digital media networks wireless electronics devices instruments products
    materials chemicals motor automotive logistics transportation capital investment investments
    insurance holdings group co corp inc platforms beverage beverages brewing care personal
    pipeline pipelines""".split()  # noqa: SIM905
)
# Former tickers of renamed companies (the snapshots only know today's): "$ABX" in 2015 is Barrick.
FORMER_SYMBOLS = {
    "GOLD": ["ABX"],
    "META": ["FB"],
    "ELV": ["ANTM"],
    "DINO": ["HFC"],
    "BBWI": ["LB"],
    "RTX": ["UTX"],
    "PARA": ["VIAC", "CBS", "VIA"],
    "BKNG": ["PCLN"],
    "CPRI": ["KORS"],
    "DBI": ["DSW"],
    "CZR": ["ERI"],
    "COHR": ["IIVI"],
    "SHEL": ["RDS.A", "RDS.B"],
    "SONY": ["SNE"],
    "VTRS": ["MYL"],
    "LUMN": ["CTL"],
    "WBD": ["DISCA", "DISCK"],
}
# Symbols whose shortened names mislead (a shorter form is another company or a common thing).
NO_SHORT = {"CINF", "RSG", "STZ", "EIX", "ED", "D", "BK"}
EXTRA_ALIASES = {
    "GOOGL": ["Google", "Alphabet"],
    "META": ["Facebook", "Meta Platforms", "Instagram"],
    "AMZN": ["Amazon", "AWS", "Amazon Web Services"],
    "MSFT": ["Microsoft"],
    "AAPL": ["Apple", "iPhone maker"],
    "BRK.B": ["Berkshire Hathaway", "Berkshire"],
    "XOM": ["Exxon", "ExxonMobil", "Exxon Mobil"],
    "JPM": [
        "JPMorgan",
        "JP Morgan",
        "J.P. Morgan",
        "JPMorgan Chase",
        "JP Morgan Chase",
        "J.P. Morgan Chase",
    ],
    "GS": ["Goldman Sachs", "Goldman"],
    "BA": ["Boeing"],
    "GE": ["General Electric", "GE Aerospace"],
    "WMT": ["Walmart", "Wal-Mart"],
    "PFE": ["Pfizer"],
    "TSLA": ["Tesla"],
    "NVDA": ["Nvidia", "NVIDIA"],
    "F": ["Ford", "Ford Motor"],
    "KO": ["Coca-Cola", "Coke", "Coca Cola"],
    "DIS": ["Disney", "Walt Disney"],
    "NFLX": ["Netflix"],
    "INTC": ["Intel"],
    "BAC": ["Bank of America", "BofA", "Merrill Lynch", "BofA Merrill Lynch"],
    "C": ["Citigroup", "Citi"],
    "WFC": ["Wells Fargo"],
    "CVX": ["Chevron"],
    "JNJ": ["Johnson & Johnson", "J&J"],
    "T": ["AT&T"],
    "VZ": ["Verizon"],
    "MCD": ["McDonald's", "McDonalds"],
    "NKE": ["Nike"],
    "SBUX": ["Starbucks"],
    "TGT": ["Target"],
    "V": ["Visa"],
    "MA": ["Mastercard", "MasterCard"],
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
    "ED": ["Con Edison", "Consolidated Edison", "ConEd"],
    "EIX": ["Edison International", "Southern California Edison"],
    "STZ": ["Constellation Brands"],
    "RSG": ["Republic Services"],
    "D": ["Dominion Energy"],
    "CINF": ["Cincinnati Financial"],
    "NDAQ": ["Nasdaq Inc", "Nasdaq OMX", "Nasdaq, Inc."],
    "ICE": ["Intercontinental Exchange"],
    "SPGI": ["S&P Global"],
    "MCO": ["Moody's"],
    "COR": ["AmerisourceBergen", "Amerisource Bergen"],
    "GOLD": ["Barrick", "Barrick Gold"],
    "MMM": ["3M"],
    "BK": ["BNY Mellon", "Bank of New York Mellon", "Bank of New York"],
    "CS": ["Credit Suisse"],
    "DB": ["Deutsche Bank"],
    "BCS": ["Barclays"],
    "UBS": ["UBS"],
    "RY": ["RBC Capital", "RBC", "Royal Bank of Canada"],
    "TD": ["TD Securities", "TD Bank", "Toronto-Dominion"],
    "BMO": ["BMO Capital", "Bank of Montreal"],
    "JEF": ["Jefferies"],
    "RJF": ["Raymond James"],
    "SF": ["Stifel", "Stifel Nicolaus"],
    "PIPR": ["Piper Jaffray", "Piper Sandler"],
    "COWN": ["Cowen"],
    "OPY": ["Oppenheimer"],
    "EVR": ["Evercore", "Evercore ISI"],
    "KEY": ["KeyBanc", "KeyCorp", "KeyBanc Capital"],
    "MFG": ["Mizuho"],
    "NMR": ["Nomura"],
    "TFC": ["Truist", "SunTrust", "BB&T"],
    "LAZ": ["Lazard"],
    "AB": ["Bernstein", "AllianceBernstein"],
    "HSBC": ["HSBC"],
    "SCHW": ["Schwab", "Charles Schwab"],
    "CNI": ["CN Rail", "Canadian National"],
    # Former names of renamed companies (2009-2023), so older text still links.
    "ELV": ["Anthem"],
    "BBWI": ["L Brands"],
    "DINO": ["HollyFrontier"],
    "ARCH": ["Arch Coal"],
    "COHR": ["II-VI"],
    "CZR": ["Eldorado Resorts"],
    "BKNG": ["Priceline"],
    "CPRI": ["Michael Kors"],
    "VTRS": ["Mylan"],
    "RTX": ["United Technologies", "Raytheon"],
    "PARA": ["Viacom", "ViacomCBS", "CBS"],
    "BRY": ["Berry Petroleum"],
    "LUMN": ["CenturyLink"],
    "PDD": ["Pinduoduo"],
    "HP": ["H&P", "Helmerich & Payne"],
}

VOCAB = Path(__file__).resolve().parents[2] / "models" / "finsent-minilm" / "tokenizer.json"
TOO_COMMON = 8  # lower-case uses in the corpora above which a one-word alias is dropped
OUT = Path(__file__).resolve().parents[1] / "data" / "symbols.csv"
REF = Path(__file__).resolve().parents[3] / "shared" / "data" / "reference"
COLUMNS = [
    "symbol",
    "name",
    "aliases",
    "sector",
    "cik",
    "kind",
    "sp500",
    "weak_aliases",
    "other_symbols",
]
LISTED = {"Nasdaq", "NYSE", "Cboe US"}
STATE_RE = re.compile(r"\s*[/\\]\s*[A-Z]{2,3}\s*[/\\]?\s*$|\s*/NEW/?$|\s*/$")
SUFFIX_RE = re.compile(
    r"(?:[,\s]+|^)(Inc\.?|Incorporated|Corporation|Corp\.?|Company|Co\.?|Cos\.?|Companies|"
    r"Holdings?|Hldgs|Group|plc|Ltd\.?|Limited|N\.?V\.?|S\.?A\.?|S\.?p\.?A\.?|AG|SE|A/S|ASA|AB|"
    r"L\.?P\.?|LLC|L\.L\.C\.|Class [A-C]|\(Class [A-C]\)|\(The\)|The|ADR|SA/NV|"
    r"& Co\.?|and Co\.?|A S|Public)$",
    re.IGNORECASE,
)
FUND_RE = re.compile(
    r"\b(ETF|ETN|Fund|Funds|Portfolio|Index|iShares|SPDR|ProShares|Invesco .* Trust|"
    r"Municipal|Income Trust|Opportunit(y|ies) Trust|Equity Trust|Bond|Series \d+|Trust for|"
    r"Strats)\b",
    re.IGNORECASE,
)
SPAC_RE = re.compile(r"\b(Acquisition|Acquisitions)\b", re.IGNORECASE)
SHARE_CLASS_RE = re.compile(r"^[A-Z]{1,5}-[A-Z]$")
KEEP_UPPER = re.compile(
    r"^[B-DF-HJ-NP-TV-Z]{2,4}$|^(ETF|ETN|REIT|USA|US|AI)$|^[A-Z]{1,3}&[A-Z]{1,3}$|^[A-Z]\.$|^II+$"
)


def title(name: str) -> str:
    """SEC conformed names are upper case; make them readable, keeping acronyms (CSX, AT&T)."""
    if not name.isupper():
        return name
    words = []
    for w in name.split():
        if KEEP_UPPER.match(w) or any(c.isdigit() for c in w):
            words.append(w)
        else:
            words.append("-".join(p[:1] + p[1:].lower() for p in w.split("-")))
    return " ".join(words)


def clean_name(name: str) -> str:
    """'AMAZON COM INC' -> 'Amazon.com'; 'BANK OF AMERICA CORP /DE/' -> 'Bank of America'."""
    name = title(STATE_RE.sub("", name.strip()).strip(" ,"))
    name = re.sub(r"\s+COM(\s+(INC|CORP|CO)\.?)?$", r".com\1", name, flags=re.IGNORECASE)
    name = re.sub(r"\s+\.com", ".com", name)
    prev = None
    while prev != name:
        prev, name = name, SUFFIX_RE.sub("", name).strip(" ,&-")
    for small in ("Of", "And", "The", "For", "De"):
        name = re.sub(rf"(?<=\s){small}(?=\s)", small.lower(), name)
    return name or prev


def first_word(name: str) -> str | None:
    """'Lululemon Athletica' -> 'Lululemon': a name's first word, when it could stand alone."""
    words = name.split()
    first = words[0].strip(",.") if words else ""
    if len(words) > 1 and len(first) >= 4 and first.replace("-", "").isalpha():
        return first
    return None


def _no_class(name: str) -> str:
    """'News Corp (Class A)' -> 'News Corp': what people write when the cleaned form is a word."""
    return re.sub(r"\s*\(.*\)\s*$", "", name).strip()


def short_forms(name: str) -> list[str]:
    """Shorter names written: 'Amazon.com' -> 'Amazon', 'Vertex Pharmaceuticals' -> 'Vertex'."""
    out = []
    if name.lower().endswith(".com"):
        out.append(name[:-4])
    words = name.split()
    while len(words) > 1 and words[-1].strip(",.").lower() in GENERIC_TAIL:
        words = words[:-1]
        out.append(" ".join(words))
    return [s.strip(" ,") for s in out if len(s.strip(" ,")) >= 3 and s != name]


def _useful_short(short: str, first_words: Counter[str], lower: Counter[str]) -> bool:
    """A shortened name alone must still point at one company: not a place, a person, a word,
    a generic name part ("Partners") or the first word of several names ("Utah", "First")."""
    if " " in short:  # "New Jersey", "Main Street": every word a place or a word
        words = re.findall(r"[\w']+", short.lower())
        return not all(w in EXTRA_WEAK or w in GENERIC_TAIL or lower[w] >= 2 for w in words)
    w = short.lower()
    return not (w in EXTRA_WEAK or w in GENERIC_TAIL or first_words[w] >= 2 or lower[w] >= 2)


def kind_of(name: str, symbol: str) -> str:
    """'fund' or 'spac' when the SEC name says so, else 'stock'; only stocks get short aliases."""
    if FUND_RE.search(name):
        return "fund"
    if SPAC_RE.search(name):
        return "spac"
    return "stock"


def lowercase_words(texts: list[str]) -> Counter[str]:
    """How often each word is written lower-case in finance prose, net of a fifth of its
    capitalised uses (company names are mostly capitalised): a data-made dictionary."""
    lower: Counter[str] = Counter()
    upper: Counter[str] = Counter()
    for t in texts:
        lower.update(re.findall(r"(?<![\w$#@])[a-z][a-z'-]+\b", t))
        upper.update(w.lower() for w in re.findall(r"(?<=[a-z,] )[A-Z][a-z'-]+\b", t))
    return Counter({w: n - upper[w] // 5 for w, n in lower.items() if n - upper[w] // 5 > 0})


def vocabulary(path: Path = VOCAB) -> frozenset[str]:
    """Whole words of the shipped model's WordPiece vocabulary (BERT uncased, 30,522 entries,
    built from Wikipedia and books): a dictionary of ordinary words and famous names."""
    if not path.is_file():
        return frozenset()
    vocab = json.loads(path.read_text(encoding="utf-8"))["model"]["vocab"]
    return frozenset(w for w in vocab if w.isalpha() and len(w) >= 3)


def is_weak(alias: str, derived: bool, first_words: Counter[str], lower: Counter[str]) -> bool:
    """Does a one-word alias need evidence? Ordinary words, places, generic name parts do."""
    if " " in alias.strip() or "&" in alias:
        words = [w.lower() for w in re.findall(r"[\w']+", alias)]
        common = all(lower[w] >= 2 or w in EXTRA_WEAK for w in words)
        return alias in AMBIGUOUS or (derived and common)
    a = alias.strip()
    if a in AMBIGUOUS or a.lower() in EXTRA_WEAK:
        return True
    if a[:1].isdigit() or len(a) <= 3:
        return True
    return lower[a.lower()] >= 2 or first_words[a.lower()] >= 2


def _read_corpora(ref: Path) -> list[str]:
    """Finance texts beside the reference data (tweets, phrase bank), when present: what
    `lowercase_words` learns ordinary words from. Without them the aliases come out differently."""
    texts: list[str] = []
    data = ref.parent
    for rel in ("twitter_financial_news/train.jsonl", "financial_phrasebank/train.jsonl"):
        p = data / rel
        if p.is_file():
            lines = p.read_text(encoding="utf-8").splitlines()
            texts += [json.loads(line)["text"] for line in lines]
    return texts


def build(sec: Path, sp500: Path, out: Path = OUT) -> int:
    """Merge the SEC list and the S&P 500 table by CIK (the S&P ticker, name and sector winning)
    into one record per symbol, then write the table to `out` (`_write`); returns the count."""
    sec_rows = json.loads(sec.read_text(encoding="utf-8"))["data"]
    with sp500.open(encoding="utf-8") as f:
        sp_rows = list(csv.DictReader(f))
    by_cik: dict[int, list[tuple[str, str, str]]] = {}
    sec_cik_of: dict[str, int] = {}
    for cik, name, ticker, exch in sec_rows:
        ticker = ticker.upper().replace("-", ".") if SHARE_CLASS_RE.match(ticker) else ticker
        sec_cik_of.setdefault(ticker, cik)
        if exch in LISTED and "-" not in ticker:
            by_cik.setdefault(cik, []).append((ticker, name, exch))
    sp_by_cik: dict[int, list[dict[str, str]]] = {}
    for r in sp_rows:
        cik = int(r["CIK"]) if r.get("CIK", "").strip().isdigit() else 0
        if cik not in by_cik:
            cik = sec_cik_of.get(r["Symbol"].strip().upper(), cik)
        sp_by_cik.setdefault(cik, []).append(r)

    records: list[dict[str, object]] = []
    for cik in sorted(set(by_cik) | set(sp_by_cik)):
        sec_list = by_cik.get(cik, [])
        sec_tickers = [t for t, _, _ in sec_list]
        sec_name = clean_name(sec_list[0][1]) if sec_list else ""
        sps = sp_by_cik.get(cik, [])
        if sps:
            sp_syms = [s["Symbol"].strip().upper() for s in sps]
            lead = sec_tickers[0] if sec_tickers and sec_tickers[0] in sp_syms else sp_syms[0]
            for r in sps:
                sym = r["Symbol"].strip().upper()
                i = 0 if sym == lead else 1
                former = [t for t in sec_tickers[:1] if t not in sp_syms]
                others = former + [t for t in sec_tickers[1:] if "." in t and t not in sp_syms]
                name = r["Security"].strip()
                records.append(
                    {
                        "symbol": sym,
                        "name": name,
                        "names": [clean_name(name), _no_class(name), sec_name] if i == 0 else [],
                        "sector": r["GICS Sector"],
                        "cik": cik or "",
                        "kind": "stock",
                        "sp500": "1",
                        "other_symbols": others if i == 0 else [],
                    }
                )
        else:
            # Of a CIK's listings keep the primary and real share classes (BRK.A); drop
            # warrants, units and rights (ticker = primary + W / U / R).
            primary = sec_tickers[0]
            others = [t for t in sec_tickers[1:] if "." in t]
            records.append(
                {
                    "symbol": primary,
                    "name": sec_name,
                    "names": [sec_name],
                    "sector": "",
                    "cik": cik,
                    "kind": kind_of(sec_list[0][1], primary),
                    "sp500": "",
                    "other_symbols": others,
                }
            )
    return _write(records, out, _read_corpora(sec.parent))


def _write(records: list[dict[str, object]], out: Path, corpora: list[str]) -> int:
    """Split each record's candidate names into strong and weak aliases and write the CSV, sorted by
    symbol (of two records with one symbol, the first wins); returns the count written."""
    lower = lowercase_words(corpora)
    words = vocabulary()
    first_words = Counter(
        str(names[0]).split()[0].lower()
        for r in records
        if isinstance(names := r["names"], list) and names and names[0]
    )
    seen_symbols: set[str] = set()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        for r in sorted(records, key=lambda r: str(r["symbol"])):
            sym = str(r["symbol"])
            if sym in seen_symbols:
                continue
            seen_symbols.add(sym)
            strong: list[str] = []
            weak: list[str] = []
            seen: set[str] = set()
            names = [str(n) for n in r["names"] if n]  # type: ignore[attr-defined]
            extra = EXTRA_ALIASES.get(sym, [])
            cands = [(a, False) for a in extra] + [(n, False) for n in names]
            if r["kind"] == "stock" and sym not in NO_SHORT:
                cands += [
                    (s, True)
                    for n in names
                    for s in short_forms(n)
                    if _useful_short(s, first_words, lower)
                ]
            tails = {a for a, d in cands if d}
            first_forms = {fw for n in names if (fw := first_word(n)) and fw not in tails}
            if r["kind"] == "stock" and sym not in NO_SHORT:
                cands += [
                    (fw, True)
                    for fw in sorted(first_forms)
                    if _useful_short(fw, first_words, lower)
                ]
            for alias, derived in cands:
                if derived and alias in first_forms and alias not in extra:
                    # A name's first word alone: only if no dictionary knows it ("Lululemon",
                    # "Ekso", not "Johnson", "Sirius"), and even then it needs evidence
                    # ("Adamas Pharma" is not Adamas One).
                    if alias.lower() in words or alias.lower() in seen:
                        continue
                    seen.add(alias.lower())
                    weak.append(alias)
                    continue
                if alias.lower() in seen or len(alias) < 2:
                    continue
                if alias.lower() in GENERIC_TAIL:
                    continue  # "Bancorp", "Partners" alone name no one
                if alias not in extra and " " not in alias and lower[alias.lower()] >= TOO_COMMON:
                    continue  # "On", "Outlook", "Revenue": no evidence makes these a company
                seen.add(alias.lower())
                if alias in EXTRA_ALIASES.get(sym, []) and alias not in AMBIGUOUS:
                    strong.append(alias)
                elif is_weak(alias, derived, first_words, lower):
                    weak.append(alias)
                elif (r["sp500"] != "1" or derived) and " " not in alias and alias.lower() in words:
                    # a small company called "Hello", "Arena", "Bicycle"; "Johnson" for J&J
                    weak.append(alias)
                else:
                    strong.append(alias)
            name = str(r["name"])
            w.writerow(
                [
                    sym,
                    name,
                    ";".join(strong),
                    r["sector"],
                    r["cik"],
                    r["kind"],
                    r["sp500"],
                    ";".join(weak),
                    ";".join(
                        [str(s) for s in r["other_symbols"]]  # type: ignore[attr-defined]
                        + FORMER_SYMBOLS.get(sym, [])
                    ),
                ]
            )
    return len(seen_symbols)


def main(argv: list[str] | None = None) -> int:
    """`python -m pipeline.dev.symbols_build`: rebuild the table from the default or given files."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sec", type=Path, default=REF / "sec_company_tickers_exchange.json")
    p.add_argument("--sp500", type=Path, default=REF / "sp500_constituents.csv")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    n = build(args.sec, args.sp500, args.out)
    print(f"wrote {n} symbols to {args.out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
