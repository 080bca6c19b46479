"""Masking of personal data in the text finsent carries: e-mail addresses, phone numbers and
social handles are replaced by placeholders before a record leaves the worker.

Pure and standard-library only (no I/O). `score_items` applies `mask_personal_data` to the text
on every scored record (and so on alert evidence and the API, which read that text); the model,
the ticker linker and the near-duplicate fingerprint still see the original text, so masking
changes no score and no verdict. The dead-letter topics keep the original bytes.

What is masked (placeholders in brackets):
- e-mail addresses, also inside URLs (`mailto:`, `?to=a@b.com`, URL-encoded `%40`): [email]
- phone numbers: international (`+44 20 7946 0958`, `0049 30 1234567`, 8-15 digits), North
  American (`(212) 555-0199`, `212.555.0199`, `+1 212-555-0199`), and a 7-digit local number
  after a cue word (`call 555-0199`): [phone]
- handles: `@name` (with at least one letter, so `@185` and `@ $185` stay), Reddit `u/name`:
  [handle]

What is kept: cashtags (`$AAPL`, `$BRK.B`), subreddits (`r/stocks`), prices, percentages, dates,
times, share counts and years. Known limits: a bare run of 10 digits without separators is not
taken for a phone number (it is as likely an id); "+100 200 300" is.
"""

from __future__ import annotations

import re

EMAIL_TOKEN = "[email]"
PHONE_TOKEN = "[phone]"
HANDLE_TOKEN = "[handle]"

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL = re.compile(rf"[A-Za-z0-9._%+-]{{1,64}}(?:@|%40){_LABEL}(?:\.{_LABEL})*\.[A-Za-z]{{2,24}}\b")
# Not inside a longer number, a price or a word; not followed by more digits.
_BEFORE = r"(?<![\w$€£¥.,/+-])"
_AFTER = r"(?![\w-]|[.,]\d)"
INTL_PHONE = re.compile(
    rf"{_BEFORE}(?:\+|\b00)[1-9]\d{{0,2}}(?:[ .-]?\(?\d{{1,4}}\)?){{2,6}}{_AFTER}"
)
NANP_PHONE = re.compile(rf"{_BEFORE}(?:\(\d{{3}}\) ?|\b\d{{3}}[ .-])\d{{3}}[ .-]\d{{4}}{_AFTER}")
CUE_PHONE = re.compile(
    r"(?i)(\b(?:call|phone|tel|telephone|text|whatsapp|sms|mobile|cell|fax)\b[\s:.]*"
    r"(?:(?:me|us)\s+)?(?:(?:at|on)\s+)?)\d{3}[ .-]\d{4}" + _AFTER
)
HANDLE = re.compile(r"(?<![\w@.%&-])@(?=[A-Za-z0-9_]*[A-Za-z_])[A-Za-z0-9_]{1,30}(?![A-Za-z0-9_])")
REDDIT_USER = re.compile(r"(?<![\w/])/?u/[A-Za-z0-9_-]{3,20}(?![\w-])")


def _intl(m: re.Match[str]) -> str:
    """Mask an international-looking match only if it has 8-15 digits (E.164), not counting a
    leading "00" exit code: the regex alone also takes short signed runs such as "+1 2 3"."""
    digits = sum(c.isdigit() for c in m.group())
    if m.group().startswith("00"):
        digits -= 2
    return PHONE_TOKEN if 8 <= digits <= 15 else m.group()


def mask_personal_data(text: str) -> str:
    """`text` with e-mail addresses, phone numbers and handles replaced by placeholders.

    Pure, so the stream and the backtest mask alike. Apply it only to text that leaves the
    worker: scores, links and fingerprints are computed on the original (module docstring)."""
    has_digit = any(c.isdigit() for c in text)
    if "@" not in text and "%40" not in text and "u/" not in text and not has_digit:
        return text
    out = EMAIL.sub(EMAIL_TOKEN, text)
    if has_digit:
        out = INTL_PHONE.sub(_intl, out)
        out = NANP_PHONE.sub(PHONE_TOKEN, out)
        out = CUE_PHONE.sub(lambda m: m.group(1) + PHONE_TOKEN, out)
    out = HANDLE.sub(HANDLE_TOKEN, out)
    return REDDIT_USER.sub(lambda m: ("/" if m.group().startswith("/") else "") + HANDLE_TOKEN, out)
