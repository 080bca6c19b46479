"""Text fingerprints for novelty, vectorised with NumPy: the same values as the core's pure
`novelty.fingerprint` (tests/scoring/test_fingerprints.py checks equality on random texts).

Why a second implementation: the core's SimHash votes 64 bits per character 4-gram in a Python
loop, ~0.3 ms for a tweet. The scoring stage computes each item's fingerprint once, next to the
model call and off the event loop, and carries it on the scored record, so the aggregation does
no text work. Here the 4-gram hashes are still blake2b (the values must match the core's), but
the vote is one NumPy reduction over a (grams x 64) bit matrix. `finsent bench` prints both.
The core keeps the pure version: it must run on the standard library alone.
"""

from __future__ import annotations

from hashlib import blake2b

import numpy as np

from pipeline.core.novelty import hash64, normalize

_N = 4  # character n-grams, as the core's `simhash`


def simhash(norm: str, n: int = _N) -> int:
    """`pipeline.core.novelty.simhash`, vectorised: bit b of the result is set when more than
    half of the grams' hashes have bit b set."""
    norm = norm.replace(" ", "")
    if len(norm) <= n:
        return hash64(norm)
    digests = b"".join(
        blake2b(norm[i : i + n].encode(), digest_size=8).digest() for i in range(len(norm) - n + 1)
    )
    grams = len(digests) // 8
    # big-endian digests: unpackbits gives each hash's bits most significant first
    bits = np.unpackbits(np.frombuffer(digests, dtype=np.uint8).reshape(grams, 8), axis=1)
    majority = 2 * bits.sum(axis=0, dtype=np.int64) > grams
    return int.from_bytes(np.packbits(majority).tobytes(), "big")


def fingerprint(text: str) -> tuple[int, int]:
    """(exact hash, simhash) of the normalized text, equal to `novelty.fingerprint(text)`."""
    norm = normalize(text)
    return hash64(norm), simhash(norm)
