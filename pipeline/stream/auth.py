"""Who may call what on the worker's HTTP API: a bearer token from a mounted secret.

Three kinds of endpoint, each with its own rule (README, "Query API"):

- `write`: POST /score (it runs the model: costly) and false-positive marks (they change what a
  risk team sees). Always need the token; with no FINSENT_API_TOKEN_FILE they are off (403), so
  a deployment that forgot the secret is closed, not open.
- `read`: GET /tickers, /tickers/{T}, /alerts. Open unless FINSENT_API_READ_AUTH=true.
- `metrics`: GET /metrics. Open unless FINSENT_METRICS_AUTH=true (then Prometheus scrapes with
  `authorization: credentials_file`).

/ready, /live and /openapi.json are never behind the token: the kubelet has none, and the API's
description is public. The token file is re-read when its modification time changes, because
Kubernetes updates a mounted secret in place when it is rotated.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class Access(StrEnum):
    """The kind of an endpoint, which decides whether it needs the token."""

    WRITE = "write"
    READ = "read"
    METRICS = "metrics"
    OPEN = "open"


@dataclass(frozen=True)
class Denied:
    """Why a request is refused: the HTTP status and a one-line reason for the JSON body."""

    status: int
    reason: str


@dataclass
class TokenFile:
    """The bearer token in `path`, re-read when the file changes (a rotated secret)."""

    path: Path
    _mtime_ns: int = field(default=-1, init=False)
    _token: str = field(default="", init=False)

    def token(self) -> str:
        """The current token ('' when the file is empty or unreadable: nothing matches it)."""
        try:
            mtime = self.path.stat().st_mtime_ns
        except OSError:
            return ""
        if mtime != self._mtime_ns:
            try:
                self._token = self.path.read_text(encoding="utf-8").strip()
            except OSError:
                self._token = ""
            self._mtime_ns = mtime
        return self._token


@dataclass(frozen=True)
class Policy:
    """Which kinds need the token, and where the token is; `check` decides one request."""

    token_file: TokenFile | None
    read_auth: bool = False
    metrics_auth: bool = False

    @classmethod
    def from_settings(cls, token_file: Path | None, read_auth: bool, metrics_auth: bool) -> Policy:
        """The worker's policy from FINSENT_API_TOKEN_FILE / _API_READ_AUTH / _METRICS_AUTH."""
        return cls(TokenFile(token_file) if token_file else None, read_auth, metrics_auth)

    def needs_token(self, kind: Access) -> bool:
        """Whether an endpoint of `kind` asks for the bearer token."""
        return (
            kind is Access.WRITE
            or (kind is Access.READ and self.read_auth)
            or (kind is Access.METRICS and self.metrics_auth)
        )

    def check(self, kind: Access, authorization: str | None) -> Denied | None:
        """None when the request may go on, else why not: 403 for writes with no token
        configured, 401 for a missing or wrong token. Compared in constant time."""
        if not self.needs_token(kind):
            return None
        expected = self.token_file.token() if self.token_file else ""
        if not expected:
            where = f"{self.token_file.path} is missing or empty" if self.token_file else "unset"
            return Denied(403, f"this endpoint is off: FINSENT_API_TOKEN_FILE {where}")
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            return Denied(401, "missing credential: send 'Authorization: Bearer <token>'")
        if not hmac.compare_digest(given.strip().encode(), expected.encode()):
            return Denied(401, "invalid bearer token")
        return None
