"""All runtime configuration, from environment variables prefixed `FINSENT_` (or a `.env` file).

One frozen `Settings` object (as Quix Streams' `ApplicationConfig`); the core receives plain values
through `core_config()`, never the settings object itself.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.core.aggregate import AggregationConfig
from pipeline.core.step import CoreConfig
from pipeline.core.windows import WINDOWS_MS, parse_duration_ms

PACKAGE_DIR = Path(__file__).parent
REPO_DIR = PACKAGE_DIR.parent
DEFAULT_MODEL_DIR = REPO_DIR / "models" / "finsent-minilm"
DEFAULT_RULES = PACKAGE_DIR / "alert_rules.yaml"
# Per-ticker Prometheus series exist only for these (DESIGN.md, metrics): large, much-discussed
# names, the ten StockNet tickers among them. Everything else is summed under ticker="other".
DEFAULT_WATCHLIST = (
    "AAPL,MSFT,NVDA,AMZN,GOOGL,GOOG,META,TSLA,BRK.B,JPM,V,UNH,XOM,JNJ,WMT,MA,PG,HD,CVX,LLY,"
    "ABBV,MRK,KO,PEP,BAC,COST,AVGO,ORCL,CSCO,ADBE,CRM,NFLX,AMD,INTC,DIS,MCD,NKE,BA,GE,PFE,"
    "WFC,GS,MS,C,T,VZ,IBM,CAT,UBER,PYPL"
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FINSENT_", env_file=".env", frozen=True, extra="ignore"
    )

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
    dlq_suffix: str = ".dlq"
    partitions: int = 4
    replication_factor: int = 1

    # Scoring
    model_dir: Path = DEFAULT_MODEL_DIR
    provider: str = "auto"  # auto | cpu | cuda
    # A micro-batch (`max_batch` records or `max_delay_ms`, whichever first) is sorted by token
    # length and scored in model runs of `model_batch` texts: the pool must be several model
    # batches wide for the sort to cut padding (measured: 256/16 scores ~2x what 32/32 does).
    max_batch: int = 256
    model_batch: int = 16
    max_delay_ms: int = 50
    intra_op_threads: int | None = None

    # Linking and metrics
    symbols_path: Path | None = None
    watchlist: str = DEFAULT_WATCHLIST
    web_port: int = 6066
    web_host: str = "0.0.0.0"
    stall_after_s: float = 120.0  # liveness: no commit moved for this long while lag > 0
    session_timeout_s: float = 10.0  # Kafka group session: how soon a dead worker is replaced
    shutdown_timeout_s: float = 30.0  # SIGTERM: exit after this long even if the stop hangs
    # An input record dated further ahead of its arrival (Kafka timestamp) goes to the DLQ.
    max_future_skew: str = "1d"
    # An item linked to more tickers than this is spam: dead-lettered, never aggregated.
    max_tickers_per_item: int = 10

    # Analytics (core)
    windows: str = ",".join(WINDOWS_MS)  # names from 1m,5m,1h,1d or durations like 15m
    grace: str = "1m"
    half_lives: str = "1h,1d"
    baseline_window: str = "1h"
    baseline_half_life_windows: float = 168.0
    baseline_min_windows: int = 24
    min_volume: int = 5
    novelty_ttl: str = "24h"
    novelty_max_hamming: int = 12
    rules_path: Path = DEFAULT_RULES

    data_dir: Path = Field(default_factory=lambda: Path(".finsent"))

    def topics_in(self) -> tuple[str, str]:
        return (self.news_topic, self.social_topic)

    def watchlist_set(self) -> frozenset[str]:
        return frozenset(t.strip().upper() for t in self.watchlist.split(",") if t.strip())

    def sasl_secret(self) -> str | None:
        if self.sasl_password is not None:
            return self.sasl_password.get_secret_value()
        if self.sasl_password_file is not None:
            return self.sasl_password_file.read_text().strip()
        return None

    def core_config(self) -> CoreConfig:
        from pipeline.rules import load_ticker_rules

        names = [w.strip() for w in self.windows.split(",") if w.strip()]
        agg = AggregationConfig(
            windows_ms={n: parse_duration_ms(n) for n in names},
            grace_ms=parse_duration_ms(self.grace),
            half_lives_ms={h.strip(): parse_duration_ms(h) for h in self.half_lives.split(",")},
            baseline_window=self.baseline_window,
            baseline_half_life_windows=self.baseline_half_life_windows,
            baseline_min_windows=self.baseline_min_windows,
            min_volume=self.min_volume,
        )
        return CoreConfig(
            aggregation=agg,
            max_tickers_per_item=self.max_tickers_per_item,
            max_event_ahead_ms=parse_duration_ms(self.max_future_skew),
            novelty_ttl_ms=parse_duration_ms(self.novelty_ttl),
            novelty_max_hamming=self.novelty_max_hamming,
            rules=load_ticker_rules(self.rules_path),
        )
