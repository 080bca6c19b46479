"""Novelty: is this item a repeat of a story already seen for this ticker? Pure, event time.

Method (why): each text gets two 64-bit fingerprints of its normalized form (lower case; URLs,
"RT @user:", @handles, punctuation and digits' formatting removed):
- an exact hash, which catches retweets and verbatim syndication;
- a SimHash over character 4-grams (Charikar 2002; Manku et al., "Detecting near-duplicates for
  web crawling", WWW 2007), which catches trivially edited copies ("...jumps 5%" / "...jumps 5%
  on earnings").
Character n-grams rather than word shingles because headlines are short: one edited word changes
most word bigrams but few character 4-grams. A SimHash is 8 bytes, so a per-ticker chain of a few
hundred stories stays small enough to live in a changelogged table; MinHash would need 64+ values
per story for the same precision.

A chain entry lives `ttl_ms` of event time after its last sighting; repeats join the chain, so a
story that keeps being retweeted all day stays one story. A record whose item id is already in the
chain with the same text (the same exact hash of the normalized text) is a *redelivery* (the feed
sent it twice), not a repeat: it is ignored.
The same id with a different text is a *correction*: the first version stands in the windows
(retracting it would need every window's full history), the correction is counted and still goes
to `sentiment.scored`. Kafka redeliveries after a restart are recognised earlier and exactly, by
source offset (`step._redelivered`, in both `step` and `accept`), not here.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from pipeline.core.records import Verdict

_URL_RE = re.compile(r"https?://\S+|www\.\S+")
_RT_RE = re.compile(r"^\s*rt\s+@\w+:?\s*")
_HANDLE_RE = re.compile(r"@\w+")
_CASHTAG_RE = re.compile(r"\$[a-z]{1,5}\b")
_NON_WORD_RE = re.compile(r"[\W_]+")  # any script's letters and digits stay
_MASK64 = (1 << 64) - 1


def normalize(text: str) -> str:
    """The form both fingerprints hash: lower case, without URLs, a leading "RT @user:",
    @handles, cashtags and punctuation, so a retweet or a re-tagged copy hashes the same.
    Letters and digits of every script are kept: "苹果股价大跌" is not the empty string."""
    t = text.lower()
    t = _URL_RE.sub(" ", t)
    t = _RT_RE.sub(" ", t)
    t = _HANDLE_RE.sub(" ", t)
    t = _CASHTAG_RE.sub(" ", t)  # the chain is per ticker already; tags are often just prepended
    t = _NON_WORD_RE.sub(" ", t)
    norm = " ".join(t.split())
    # Nothing left (a text of only tags, links or handles): its own lower-cased words, so two
    # different tag lists are two stories, not one shared empty fingerprint.
    return norm or " ".join(text.lower().split())


def hash64(data: str) -> int:
    """A stable 64-bit hash (blake2b): Python's `hash` is salted per process, and fingerprints
    must agree across workers, restarts and the backtest."""
    return int.from_bytes(hashlib.blake2b(data.encode(), digest_size=8).digest(), "big")


def simhash(norm: str, n: int = 4) -> int:
    """64-bit SimHash of the character `n`-grams of a normalized text (spaces dropped): each
    bit is the majority vote of the grams' hashes, so a small edit flips few bits and near
    copies are close in `hamming` distance. A text of `n` characters or fewer: its plain hash."""
    norm = norm.replace(" ", "")  # "$20bn" and "$20 bn" are the same story
    if len(norm) <= n:
        return hash64(norm)
    weights = [0] * 64
    for i in range(len(norm) - n + 1):
        h = hash64(norm[i : i + n])
        for bit in range(64):
            weights[bit] += 1 if (h >> bit) & 1 else -1
    return sum(1 << bit for bit in range(64) if weights[bit] > 0) & _MASK64


def fingerprint(text: str) -> tuple[int, int]:
    """(exact hash, simhash) of the normalized text."""
    norm = normalize(text)
    return hash64(norm), simhash(norm)


def hamming(a: int, b: int) -> int:
    """Number of differing bits: two SimHashes within `max_hamming` are the same story."""
    return (a ^ b).bit_count()


def initialize() -> dict[str, Any]:
    """An empty per-ticker chain, JSON-serializable like the rest of the ticker's state."""
    # entries: [item_id, exact, simhash, last_seen_ms]; ints stay exact through JSON.
    return {"entries": []}


def observe(
    state: dict[str, Any],
    item_id: str,
    fp: tuple[int, int],
    event_ms: int,
    *,
    ttl_ms: int,
    max_entries: int,
    max_hamming: int,
) -> tuple[dict[str, Any], Verdict]:
    """Classify one sighting as NEW, REPEAT, REDELIVERY or CORRECTION; return the new chain.

    Pure and copy-on-write: `state` is not modified. `event_ms` is the record's event time:
    entries last seen more than `ttl_ms` before it are dropped, and NEW and REPEAT sightings
    join the chain (capped at `max_entries`, most recently seen kept). The verdict therefore
    depends on the order of the sightings, which is why both drivers fold in (event time, id)
    order: the earliest copy of a story is the original.
    """
    exact, sim = fp
    horizon = event_ms - ttl_ms
    alive = [e for e in state["entries"] if e[3] >= horizon]
    for e in state["entries"]:
        if e[0] == item_id:
            return {"entries": alive}, Verdict.REDELIVERY if e[1] == exact else Verdict.CORRECTION
    verdict = Verdict.NEW
    for e in alive:
        if e[1] == exact or hamming(e[2], sim) <= max_hamming:
            verdict = Verdict.REPEAT
            break
    alive.append([item_id, exact, sim, event_ms])
    if len(alive) > max_entries:
        # Keep the most recently seen stories (stable for equal times: input order).
        alive = sorted(alive, key=lambda e: e[3])[-max_entries:]
    return {"entries": alive}, verdict
