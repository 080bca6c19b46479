"""All runtime configuration, from environment variables prefixed `FINSENT_` (or a `.env` file).

One frozen `Settings` object (as Quix Streams' `ApplicationConfig`); the core receives plain values
through `core_config(rules)`, never the settings object itself.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.core.aggregate import AggregationConfig
from pipeline.core.alerts import Rule
from pipeline.core.drift import DEFAULT_HALF_LIFE_MS
from pipeline.core.review import ReviewConfig
from pipeline.core.step import CoreConfig
from pipeline.core.windows import format_duration_ms, parse_duration_ms
from pipeline.errors import ConfigError

PACKAGE_DIR = Path(__file__).parent
REPO_DIR = PACKAGE_DIR.parent
DEFAULT_MODEL_DIR = REPO_DIR / "models" / "finsent-minilm"
DEFAULT_RULES = PACKAGE_DIR / "alert_rules.yaml"
# Per-ticker Prometheus series exist only for these (README, Configuration): large, much-discussed
# names, the ten StockNet tickers among them. Everything else is summed under ticker="other".
DEFAULT_WATCHLIST = (
    "AAPL,MSFT,NVDA,AMZN,GOOGL,GOOG,META,TSLA,BRK.B,JPM,V,UNH,XOM,JNJ,WMT,MA,PG,HD,CVX,LLY,"
    "ABBV,MRK,KO,PEP,BAC,COST,AVGO,ORCL,CSCO,ADBE,CRM,NFLX,AMD,INTC,DIS,MCD,NKE,BA,GE,PFE,"
    "WFC,GS,MS,C,T,VZ,IBM,CAT,UBER,PYPL"
)
# `source` label values of finsent_items_consumed_total: these, and "other" for the rest
# (`pipeline/metrics.py`), so a feed with 300 sources still makes a handful of series.
DEFAULT_SOURCES = "newswire,twitter,reddit,stocktwits"
MAX_SOURCES = 50

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", "OAUTHBEARER")
PROVIDERS = ("auto", "cpu", "cuda")
ENV_PREFIX = "FINSENT_"
# FINSENT_* variables that are not worker settings: read by the developer tools, CI and tests,
# each with its default, through `tool_env` (so this module is the only reader of the
# environment). Any other unknown FINSENT_* name is warned about: a misspelt setting would
# otherwise be ignored.
TOOL_ENV: dict[str, str] = {
    "FINSENT_CACHE": str(Path.home() / ".cache" / "finsent"),  # downloads: broker jars, teacher
    "FINSENT_KAFKA_VERSION": "4.4.0",  # the local broker (pipeline/dev/kafka_local.py)
    "FINSENT_KAFKA_HEAP": "-Xmx512m",
    "FINSENT_CHECKPOINT": "",  # finsent bench: a torch checkpoint to compare
    "FINSENT_VERSION": "",  # image build argument
    "FINSENT_TEST_BOOTSTRAP": "",  # tests: use this broker instead of starting one
    "FINSENT_SHARED_DATA": "",
    "FINSENT_KUSTOMIZE": "",
    "FINSENT_FAULT_REPEATS": "",
}


def tool_env(name: str) -> str:
    """A developer tool's variable (`TOOL_ENV`), read when the tool runs, never at import: its
    value, or its default when unset or empty."""
    if name not in TOOL_ENV:
        raise KeyError(f"{name} is not a tool variable (add it to pipeline.config.TOOL_ENV)")
    return os.environ.get(name) or TOOL_ENV[name]


DURATION_HELP = "a number and a unit ms|s|m|h|d, e.g. 250ms, 90s, 5m, 1h, 1d"
# Kafka's legal topic / group characters (kafka.common.internals.Topic).
KAFKA_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")
HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:(\d{1,5}))?")
SECRET_FIELDS = frozenset({"sasl_password", "notify_target_url"})
# `finsent notify`: the message shapes it posts (pipeline/notify/message.py).
NOTIFY_FORMATS = ("slack", "json")
HTTP_URL = re.compile(r"https?://[^\s/?#]+(/[^\s]*)?")
# The analytics defaults live in the core's config dataclasses; the settings show them as
# FINSENT_* strings (one place for every default).
_CORE = CoreConfig()
_AGG = _CORE.aggregation
_REVIEW = ReviewConfig()
# The topic settings a namespace prefixes (`Settings._apply_namespace`); the DLQs derive from them.
NAMESPACED_TOPICS = (
    "news_topic",
    "social_topic",
    "scored_topic",
    "aggregates_topic",
    "alerts_topic",
    "alert_marks_topic",
    "review_topic",
)


def env_name(field: str) -> str:
    """The environment variable of a settings field (`app_id` -> FINSENT_APP_ID), for messages."""
    return ENV_PREFIX + field.upper()


def namespaced_topic(topic: str, namespace: str) -> str:
    """`<namespace>.<topic>`, or the topic itself when live (no namespace)."""
    return f"{namespace}.{topic}" if namespace else topic


def _duration(text: str, *, allow_zero: bool = False) -> int:
    """A duration setting in ms; its ValueError says what is accepted (pydantic shows it)."""
    try:
        ms = parse_duration_ms(text)
    except ValueError:
        raise ValueError(f"expected a duration, {DURATION_HELP}") from None
    if ms < 0 or (ms == 0 and not allow_zero):
        raise ValueError(f"expected a duration above zero, {DURATION_HELP}")
    return ms


def _duration_list(text: str) -> list[str]:
    """Check a comma-separated list of durations (none empty, invalid or repeated); return them."""
    expected = f"expected a comma-separated list like 1m,5m,1h,1d (each {DURATION_HELP})"
    names = [n.strip() for n in text.split(",")]
    if not text.strip() or any(not n for n in names):
        raise ValueError(f"empty entry; {expected}")
    for n in names:
        try:
            _duration(n)
        except ValueError:
            raise ValueError(f"{n!r} is not a duration above zero; {expected}") from None
    if len(set(names)) != len(names):
        raise ValueError(f"a duration is listed twice; {expected}")
    return names


def _one_of(value: str, accepted: Iterable[str]) -> str:
    """`value` when it is one of `accepted` exactly (case-sensitive); else ValueError listing them,
    with a did-you-mean for a near miss such as another case."""
    choices = tuple(accepted)
    if value in choices:
        return value
    close = difflib.get_close_matches(value.upper(), [c.upper() for c in choices], n=1)
    hint = ""
    if close:
        hint = f" (did you mean {next(c for c in choices if c.upper() == close[0])}?)"
    raise ValueError(f"expected one of {', '.join(choices)}, case-sensitive{hint}")


def describe_validation_error(exc: ValidationError) -> str:
    """pydantic's multi-line report as one line per bad setting, joined by '; ': the variable,
    the value it had and what is accepted."""
    parts = []
    for err in exc.errors(include_url=False):
        msg = str(err.get("msg", "invalid"))
        msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        msg = " ".join(msg.split())
        loc = err.get("loc") or ()
        field = loc[0] if loc else None
        if isinstance(field, str) and field in Settings.model_fields:
            value = "'***'" if field in SECRET_FIELDS else repr(err.get("input"))
            msg = msg[:1].lower() + msg[1:]
            parts.append(f"{env_name(field)}={value} is invalid: {msg}")
        else:
            parts.append(msg)
    return "; ".join(parts) or " ".join(str(exc).split())


def unknown_env(names: Iterable[str]) -> list[tuple[str, str | None]]:
    """FINSENT_* names that are neither a setting nor in TOOL_ENV, each with the closest
    setting's variable name (difflib), or None when nothing is close."""
    known = {env_name(f) for f in Settings.model_fields}
    suffixes = {k[len(ENV_PREFIX) :]: k for k in known}
    out = []
    for name in sorted({n.upper() for n in names if n.upper().startswith(ENV_PREFIX)}):
        if name in known or name in TOOL_ENV:
            continue
        close = difflib.get_close_matches(name[len(ENV_PREFIX) :], list(suffixes), n=1, cutoff=0.6)
        out.append((name, suffixes[close[0]] if close else None))
    return out


_WARNED: set[str] = set()


def warn_unknown_env(environ: Mapping[str, str], env_files: Iterable[Path] = ()) -> list[str]:
    """Print one warning line on stderr per unknown FINSENT_* variable (environment or .env),
    once per process; returns the lines printed."""
    names = set(environ)
    for f in env_files:
        if f.is_file():
            from dotenv import dotenv_values

            names |= set(dotenv_values(f))
    lines = []
    for name, suggestion in unknown_env(names):
        if name in _WARNED:
            continue
        _WARNED.add(name)
        hint = f"; did you mean {suggestion}?" if suggestion else ""
        lines.append(f"finsent: warning: {name} is not a finsent setting and is ignored{hint}")
    for line in lines:
        print(line, file=sys.stderr)
    return lines


class Settings(BaseSettings):
    """Every FINSENT_* setting, read from the environment and `.env` and checked once when built: a
    bad value raises `ConfigError` naming the variable (one CLI line, exit 2); frozen after. An
    unknown FINSENT_* name is warned about, not refused (`warn_unknown_env`)."""

    model_config = SettingsConfigDict(
        env_prefix="FINSENT_", env_file=".env", frozen=True, extra="ignore"
    )

    def __init__(self, **values: Any) -> None:
        """Read and validate every setting; a bad one raises `ConfigError` (one line per bad
        variable: its name, value and what is accepted) instead of pydantic's report."""
        env_file = values.get("_env_file", self.model_config.get("env_file"))
        files = [env_file] if isinstance(env_file, str | Path) else list(env_file or ())
        warn_unknown_env(os.environ, [Path(f) for f in files])
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc)) from exc

    # Kafka
    app_id: str = "finsent"
    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: str = "PLAINTEXT"  # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    sasl_mechanism: str = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_file: Path | None = None  # a mounted Kubernetes secret, read at start
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    news_topic: str = "news.raw"
    social_topic: str = "social.raw"
    scored_topic: str = "sentiment.scored"
    aggregates_topic: str = "sentiment.aggregates"
    alerts_topic: str = "sentiment.alerts"
    # Compacted, keyed by alert id: false-positive marks made through the API (`POST
    # /alerts/{id}/false-positive`), joined to the alerts that `GET /alerts` returns.
    alert_marks_topic: str = "sentiment.alert_marks"
    # Items picked for human labelling (low confidence, disputed alert evidence, a sample):
    # `finsent review export` reads it.
    review_topic: str = "sentiment.review"
    dlq_suffix: str = ".dlq"
    # Empty = live. Set (e.g. `replay`), every topic above is `<namespace>.<topic>` and app_id
    # (consumer group, table changelogs) `<app_id>-<namespace>`: see `_apply_namespace`.
    namespace: str = ""
    partitions: int = Field(4, ge=1)
    replication_factor: int = Field(1, ge=1)

    # Scoring
    model_dir: Path = DEFAULT_MODEL_DIR
    provider: str = "auto"  # auto | cpu | cuda
    # A micro-batch (`max_batch` records or `max_delay_ms`, whichever first) is sorted by token
    # length and scored in model runs of `model_batch` texts: the pool must be several model
    # batches wide for the sort to cut padding (measured: 256/16 scores ~2x what 32/32 does).
    max_batch: int = Field(256, ge=1)
    model_batch: int = Field(16, ge=1)
    max_delay_ms: int = Field(50, ge=0)
    intra_op_threads: int | None = Field(None, ge=1)

    # Linking and metrics
    symbols_path: Path | None = None
    watchlist: str = DEFAULT_WATCHLIST
    web_port: int = Field(6066, ge=1, le=65535)
    web_host: str = "0.0.0.0"
    # The URL the other workers reach this one's web server at (faust's canonical_url, shared in
    # the group's assignment): the query API forwards /tickers/T to the worker that owns T.
    # Default http://<hostname>:<web_port>; in Kubernetes the pod IP (k8s/base sets it).
    web_canonical_url: str | None = None
    # HTTP API access (pipeline/stream/auth.py): writing and costly endpoints (POST /score,
    # false-positive marks) always need `Authorization: Bearer <token>`, the token read from this
    # file (a mounted secret; re-read when it changes). Unset, missing or empty: those endpoints
    # are off (403) and the worker says so at start; an optional Secret may be absent.
    api_token_file: Path | None = None
    api_read_auth: bool = False  # GET /tickers*, /alerts need the token too
    metrics_auth: bool = False  # GET /metrics needs the token too (Prometheus: authorization)
    api_score_max_texts: int = Field(64, ge=1, le=1024)  # texts per POST /score
    # The alert index behind GET /alerts: every worker follows sentiment.alerts from this far
    # back (by Kafka timestamp) and keeps at most this many alerts, newest first.
    api_alerts_horizon: str = "7d"
    api_alerts_keep: int = Field(10_000, ge=1)
    stall_after_s: float = Field(
        120.0, gt=0
    )  # liveness: no commit moved for this long while lag > 0
    session_timeout_s: float = Field(
        10.0, gt=0
    )  # Kafka group session: how soon a dead worker is replaced
    shutdown_timeout_s: float = Field(
        30.0, gt=0
    )  # SIGTERM: exit after this long even if the stop hangs
    # An input record dated further ahead of its arrival (Kafka timestamp) goes to the DLQ.
    max_future_skew: str = format_duration_ms(_CORE.max_event_ahead_ms)
    # An item linked to more tickers than this is spam: dead-lettered, never aggregated.
    max_tickers_per_item: int = Field(_CORE.max_tickers_per_item, ge=1)
    # Event-time progress (watermarks, pipeline/stream/watermarks.py): how often the scoring
    # stage tells the aggregation how far each input partition has got, and after how long an
    # input partition with nothing to read stops holding event time back (Flink's withIdleness).
    watermark_interval_ms: int = Field(200, ge=10)
    # How often each stage commits its finished offsets. The aggregation publishes each open
    # window's newest update and writes each changed state to the changelog just before, so
    # this is also the interval of window updates (closed windows and alerts go out at once):
    # shorter is fresher (Kafka -> aggregate latency), longer writes fewer messages per item.
    commit_interval_ms: int = Field(1000, ge=50, le=60_000)
    # Open windows' newest updates can go out more often than the commit (unset: at each commit
    # only): fresher windows without more changelog writes (those stay once per commit). At
    # most the commit interval: a committed offset always has its windows' updates published.
    update_interval_ms: int | None = Field(None, ge=50, le=60_000)
    idle_timeout_s: float = Field(30.0, gt=0)
    # Records waiting for the watermark are kept in the ticker's state (stored in 256 KB
    # changelog chunks): past this many bytes the oldest half is folded early, a last guard on
    # memory (finsent_forced_folds_total).
    max_pending_bytes: int = Field(_CORE.max_pending_bytes, ge=10_000)

    # Analytics (core)
    windows: str = ",".join(_AGG.windows_ms)  # names from 1m,5m,1h,1d or durations like 15m
    grace: str = format_duration_ms(_AGG.grace_ms)
    half_lives: str = ",".join(_AGG.half_lives_ms)
    baseline_window: str = _AGG.baseline_window
    baseline_half_life_windows: float = Field(_AGG.baseline_half_life_windows, gt=0)
    baseline_min_windows: int = Field(_AGG.baseline_min_windows, ge=1)
    min_volume: int = Field(_AGG.min_volume, ge=0)
    novelty_ttl: str = format_duration_ms(_CORE.novelty_ttl_ms)
    novelty_max_hamming: int = Field(_CORE.novelty_max_hamming, ge=0, le=64)
    rules_path: Path = DEFAULT_RULES

    data_dir: Path = Field(default_factory=lambda: Path(".finsent"))
    sources: str = DEFAULT_SOURCES  # metrics `source` values; any other source counts as "other"
    # E-mails, phone numbers and handles masked in the text on scored records, alert evidence and
    # the API (pipeline/core/privacy.py); the dead-letter topics keep the original bytes.
    mask_personal_data: bool = _CORE.mask_personal_data
    # Model drift (pipeline/core/drift.py): the half-life of each source's window of what was
    # scored, compared with the model's reference (by the records' arrival time).
    drift_half_life: str = format_duration_ms(DEFAULT_HALF_LIFE_MS)
    # Review loop (pipeline/core/review.py): items scored with a confidence below this, and a
    # deterministic sample of the rest, go to the review topic, one pick per story per TTL, at
    # most this many a minute of event time (0: review off).
    review_confidence: float = _REVIEW.confidence_below
    review_sample_rate: float = _REVIEW.sample_rate
    review_max_per_minute: int = _REVIEW.max_per_minute
    review_story_ttl: str = format_duration_ms(_REVIEW.story_ttl_ms)

    # Alert notifications (`finsent notify`, pipeline/notify/): Alertmanager's webhook in, each
    # firing ticker alert with its top headlines from the API (GET /alerts), one message out to
    # the target webhook. The target URL is a credential (a Slack webhook): prefer the _FILE.
    notify_port: int = Field(9095, ge=1, le=65535)
    notify_target_url: SecretStr | None = None
    notify_target_url_file: Path | None = None
    notify_api_url: str = "http://finsent-worker:6066"  # the worker Service: any replica answers
    notify_timeout_s: float = Field(2.0, gt=0, le=30)  # per API call; then sent without headlines
    notify_headlines: int = Field(5, ge=1, le=10)
    notify_format: str = "slack"  # slack (text + blocks) | json (the same, plus the alerts)

    # -- validation: every value checked when Settings() is built (messages: describe_...) ---

    @field_validator("review_confidence", "review_sample_rate")
    @classmethod
    def _share(cls, v: float) -> float:
        if not 0.0 <= v <= 1.0:
            raise ValueError("expected a number from 0 to 1 (e.g. 0.6; 0 picks nothing)")
        return v

    @field_validator("review_max_per_minute")
    @classmethod
    def _per_minute(cls, v: int) -> int:
        if v < 0:
            raise ValueError("expected a whole number of items a minute, 0 or more (0: review off)")
        return v

    @field_validator("security_protocol")
    @classmethod
    def _security_protocol(cls, v: str) -> str:
        return _one_of(v, SECURITY_PROTOCOLS)

    @field_validator("sasl_mechanism")
    @classmethod
    def _sasl_mechanism(cls, v: str) -> str:
        return _one_of(v, SASL_MECHANISMS)

    @field_validator("provider")
    @classmethod
    def _provider(cls, v: str) -> str:
        return _one_of(v, PROVIDERS)

    @field_validator("notify_format")
    @classmethod
    def _notify_format(cls, v: str) -> str:
        return _one_of(v, NOTIFY_FORMATS)

    @field_validator("notify_api_url")
    @classmethod
    def _notify_api_url(cls, v: str) -> str:
        if not HTTP_URL.fullmatch(v.strip()):
            raise ValueError("expected an http(s) URL, e.g. http://finsent-worker:6066")
        return v.strip().rstrip("/")

    @field_validator("notify_target_url")
    @classmethod
    def _notify_target_url(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not HTTP_URL.fullmatch(v.get_secret_value().strip()):
            raise ValueError("expected an http(s) URL (the destination webhook)")
        return v

    @field_validator("bootstrap_servers")
    @classmethod
    def _bootstrap(cls, v: str) -> str:
        for hp in v.split(","):
            m = HOST_PORT.fullmatch(hp.strip())
            if not m or (m.group(3) is not None and not 0 < int(m.group(3)) < 65536):
                raise ValueError(
                    f"{hp.strip()!r} is not host:port; expected host:port[,host:port...]"
                )
        return v

    @field_validator(
        "app_id",
        "news_topic",
        "social_topic",
        "scored_topic",
        "aggregates_topic",
        "alerts_topic",
        "alert_marks_topic",
        "review_topic",
    )
    @classmethod
    def _kafka_name(cls, v: str) -> str:
        if len(v) > 249:
            raise ValueError("expected at most 249 characters, a FINSENT_NAMESPACE prefix included")
        if not KAFKA_NAME.fullmatch(v):
            raise ValueError("expected 1-249 characters from A-Z a-z 0-9 . _ - (a Kafka name)")
        return v

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, v: str) -> str:
        if v and not KAFKA_NAME.fullmatch(v):
            raise ValueError(
                "expected empty (live) or 1-249 characters from A-Z a-z 0-9 . _ - (e.g. replay)"
            )
        return v

    @model_validator(mode="before")
    @classmethod
    def _apply_namespace(cls, data: Any) -> Any:
        """The one place a namespace changes names: with FINSENT_NAMESPACE=ns every topic field
        (and so the DLQs derived from them) becomes `ns.<topic>` and app_id `<app_id>-ns`, so
        every reader of `settings.news_topic`, `settings.app_id`... gets the namespaced name.

        Runs on the raw values (before the field validators, which then check the final names).
        Build a namespaced copy with `Settings(namespace=...)`, not `model_copy(update=...)`,
        which runs no validator.
        """
        if not isinstance(data, dict):
            return data
        ns = data.get("namespace") or ""
        if not isinstance(ns, str) or not KAFKA_NAME.fullmatch(ns):
            return data  # live, or a bad namespace that `_namespace` reports
        out = dict(data)
        for name in NAMESPACED_TOPICS:
            value = data.get(name, cls.model_fields[name].default)
            if isinstance(value, str) and KAFKA_NAME.fullmatch(value):
                out[name] = namespaced_topic(value, ns)
        app_id = data.get("app_id", cls.model_fields["app_id"].default)
        if isinstance(app_id, str) and KAFKA_NAME.fullmatch(app_id):
            out["app_id"] = f"{app_id}-{ns}"
        return out

    @field_validator("dlq_suffix")
    @classmethod
    def _dlq_suffix(cls, v: str) -> str:
        if not KAFKA_NAME.fullmatch(v):
            raise ValueError("expected a non-empty suffix of A-Z a-z 0-9 . _ - (e.g. .dlq)")
        return v

    @field_validator("web_host")
    @classmethod
    def _non_empty(cls, v: str) -> str:
        """FINSENT_WEB_HOST must name a host or address."""
        if not v.strip():
            raise ValueError("expected a host name or address (e.g. 0.0.0.0)")
        return v

    @field_validator("windows", "half_lives")
    @classmethod
    def _durations(cls, v: str) -> str:
        _duration_list(v)
        return v

    @field_validator(
        "baseline_window",
        "novelty_ttl",
        "drift_half_life",
        "api_alerts_horizon",
        "review_story_ttl",
    )
    @classmethod
    def _positive_duration(cls, v: str) -> str:
        _duration(v)
        return v

    @field_validator("grace", "max_future_skew")
    @classmethod
    def _duration_or_zero(cls, v: str) -> str:
        _duration(v, allow_zero=True)
        return v

    @field_validator("watchlist")
    @classmethod
    def _watchlist(cls, v: str) -> str:
        if not [t for t in v.split(",") if t.strip()]:
            raise ValueError(
                "the watch-list is empty, which blanks every per-ticker dashboard; expected "
                "comma-separated tickers (e.g. AAPL,MSFT), or unset it for the default"
            )
        return v

    @field_validator("sources")
    @classmethod
    def _sources(cls, v: str) -> str:
        names = [s.strip() for s in v.split(",") if s.strip()]
        if not names or len(names) > MAX_SOURCES:
            raise ValueError(f"expected 1 to {MAX_SOURCES} comma-separated source names")
        bad = [n for n in names if not re.fullmatch(r"[A-Za-z0-9_.-]+", n)]
        if bad:
            raise ValueError(f"{bad[0]!r}: expected names of A-Z a-z 0-9 _ . - (e.g. newswire)")
        return v

    @field_validator("web_canonical_url")
    @classmethod
    def _canonical_url(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"https?://[^/\s:]+(:\d{1,5})?/?", v.strip()):
            raise ValueError(f"{v!r}: expected http://host:port (how other workers reach this one)")
        return v.strip().rstrip("/") if v else v

    @model_validator(mode="after")
    def _auth_needs_a_token(self) -> Settings:
        """Reads or /metrics behind a token need the token file: else nobody could read them."""
        for flag in ("api_read_auth", "metrics_auth"):
            if getattr(self, flag) and self.api_token_file is None:
                raise ValueError(
                    f"{env_name(flag)}=true needs FINSENT_API_TOKEN_FILE (the bearer token's file)"
                )
        return self

    def canonical_url(self) -> str:
        """How the other workers reach this one: FINSENT_WEB_CANONICAL_URL, else faust's default
        (http://<hostname>:<FINSENT_WEB_PORT>)."""
        import socket

        return self.web_canonical_url or f"http://{socket.gethostname()}:{self.web_port}"

    def drift_half_life_ms(self) -> int:
        """FINSENT_DRIFT_HALF_LIFE in ms: how fast the model-drift windows forget."""
        return parse_duration_ms(self.drift_half_life)

    def alerts_horizon_ms(self) -> int:
        """FINSENT_API_ALERTS_HORIZON in ms: how far back GET /alerts can see."""
        return parse_duration_ms(self.api_alerts_horizon)

    @model_validator(mode="after")
    def _updates_at_least_once_per_commit(self) -> Settings:
        """FINSENT_UPDATE_INTERVAL_MS above the commit interval would do nothing: every commit
        publishes the open windows' updates anyway."""
        every = self.update_interval_ms
        if every is not None and every > self.commit_interval_ms:
            raise ValueError(
                f"FINSENT_UPDATE_INTERVAL_MS={str(every)!r} is invalid: expected at most "
                f"FINSENT_COMMIT_INTERVAL_MS ({self.commit_interval_ms}); every commit "
                "publishes the updates"
            )
        return self

    @model_validator(mode="after")
    def _baseline_is_a_window(self) -> Settings:
        """FINSENT_BASELINE_WINDOW must be one of FINSENT_WINDOWS: the core sizes the z-score
        baseline from that window's length."""
        names = [w.strip() for w in self.windows.split(",")]
        if self.baseline_window.strip() not in names:
            raise ValueError(
                f"FINSENT_BASELINE_WINDOW={self.baseline_window!r} is invalid: expected one of "
                f"FINSENT_WINDOWS ({','.join(names)})"
            )
        return self

    def require_files(self) -> None:
        """Raise `ConfigError` naming the variable when a configured secret or certificate file
        is missing: checked by the commands that connect, not at build time (a pod's mounted
        files do not exist where its config is rendered or tested)."""
        for field in (
            "sasl_password_file",
            "ssl_cafile",
            "ssl_certfile",
            "ssl_keyfile",
        ):
            path = getattr(self, field)
            if path is not None and not Path(path).is_file():
                raise ConfigError(f"{env_name(field)}={str(path)!r} is invalid: no such file")

    def review_config(self) -> ReviewConfig:
        """The review selection's plain values (FINSENT_REVIEW_*), for the scoring stage."""
        return ReviewConfig(
            confidence_below=self.review_confidence,
            sample_rate=self.review_sample_rate,
            max_per_minute=self.review_max_per_minute,
            story_ttl_ms=parse_duration_ms(self.review_story_ttl),
        )

    def sources_set(self) -> frozenset[str]:
        """FINSENT_SOURCES as lower-case `source` label values (`PipelineMetrics.source_label`); any
        other source is counted as "other"."""
        return frozenset(s.strip().lower() for s in self.sources.split(",") if s.strip())

    def topics_in(self) -> tuple[str, str]:
        """The two input topics (namespaced if set): what the scoring stage reads, the watermark
        waits for and a replay writes to."""
        return (self.news_topic, self.social_topic)

    def watchlist_set(self) -> frozenset[str]:
        """FINSENT_WATCHLIST upper-cased: the tickers with Prometheus series of their own (the
        others are summed under ticker="other")."""
        return frozenset(t.strip().upper() for t in self.watchlist.split(",") if t.strip())

    def notify_target(self) -> str:
        """The destination webhook of `finsent notify`: FINSENT_NOTIFY_TARGET_URL, else the
        contents of FINSENT_NOTIFY_TARGET_URL_FILE (read at each call: a rotated secret is
        picked up). Raises `ConfigError` naming the variable when neither gives a URL."""
        if self.notify_target_url is not None:
            return self.notify_target_url.get_secret_value().strip()
        path = self.notify_target_url_file
        if path is None:
            raise ConfigError(
                "FINSENT_NOTIFY_TARGET_URL is not set: `finsent notify` needs the destination "
                "webhook URL (or FINSENT_NOTIFY_TARGET_URL_FILE, a file holding it)"
            )
        try:
            url = path.read_text(encoding="utf-8").strip()
        except OSError:
            raise ConfigError(
                f"FINSENT_NOTIFY_TARGET_URL_FILE={str(path)!r} is invalid: no such readable file"
            ) from None
        if not HTTP_URL.fullmatch(url):
            raise ConfigError(
                f"FINSENT_NOTIFY_TARGET_URL_FILE={str(path)!r} is invalid: expected the file "
                "to hold an http(s) URL"
            )
        return url

    def sasl_secret(self) -> str | None:
        """The SASL password: FINSENT_SASL_PASSWORD, else the contents of FINSENT_SASL_PASSWORD_FILE
        (read at each call, i.e. when a client connects), else None. Only here is it unwrapped."""
        if self.sasl_password is not None:
            return self.sasl_password.get_secret_value()
        if self.sasl_password_file is not None:
            return self.sasl_password_file.read_text().strip()
        return None

    def core_config(self, rules: tuple[Rule, ...]) -> CoreConfig:
        """The plain values the core runs on. The drivers load `rules` (`pipeline.rules`,
        from `rules_path`) and pass them in, so the settings never read a rules file.

        Raises `ConfigError` when a rule reads a window or half-life these settings do not
        have: the core would otherwise fail on every record's first snapshot."""
        names = [w.strip() for w in self.windows.split(",") if w.strip()]
        agg = AggregationConfig(
            windows_ms={n: parse_duration_ms(n) for n in names},
            grace_ms=parse_duration_ms(self.grace),
            half_lives_ms={h.strip(): parse_duration_ms(h) for h in self.half_lives.split(",")},
            baseline_window=self.baseline_window.strip(),
            baseline_half_life_windows=self.baseline_half_life_windows,
            baseline_min_windows=self.baseline_min_windows,
            min_volume=self.min_volume,
        )
        for rule in rules:
            if rule.window not in agg.windows_ms:
                raise ConfigError(
                    f"alert rule {rule.name} reads window {rule.window}, which "
                    f"FINSENT_WINDOWS={self.windows} does not have: add it, or set "
                    f"FINSENT_RULES_PATH (now {self.rules_path}) to rules for these windows"
                )
            z_signal = rule.signal in ("sentiment_z", "volume_z")
            if z_signal and rule.window != agg.baseline_window:
                raise ConfigError(
                    f"alert rule {rule.name} reads {rule.signal} on window {rule.window}; "
                    f"z-scores exist for FINSENT_BASELINE_WINDOW={self.baseline_window} only"
                )
            if rule.signal == "decayed_score" and rule.decay not in agg.half_lives_ms:
                raise ConfigError(
                    f"alert rule {rule.name} reads half-life {rule.decay}, which "
                    f"FINSENT_HALF_LIVES={self.half_lives} does not have"
                )
        return CoreConfig(
            aggregation=agg,
            max_tickers_per_item=self.max_tickers_per_item,
            max_event_ahead_ms=parse_duration_ms(self.max_future_skew),
            novelty_ttl_ms=parse_duration_ms(self.novelty_ttl),
            novelty_max_hamming=self.novelty_max_hamming,
            rules=rules,
            mask_personal_data=self.mask_personal_data,
            max_pending_bytes=self.max_pending_bytes,
        )
