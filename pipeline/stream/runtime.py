"""What the stream's agents, handlers and web pages share, typed: the `Runtime` that
`worker.build_runtime` (the one composition root) builds once per process.

The runtime itself is frozen: its parts are chosen at start and never swapped. What changes while
the worker runs lives in three small objects with one owner each, so a reader can tell who
writes what:

- `Health`: written by the agents (a crash) and the lag timer; read by /ready and /live;
- `TickerIndex`: written by the aggregation stage (which tickers it holds, their waiting
  records, when each is next due); trimmed at revocation;
- `ProgressReporter` (`watermarks.py`): written by the scoring stage, sent as watermark records;
- `ReviewSelection`: written by the scoring stage (which stories went to review, its bucket);
- `DriftMonitor`: written by the scoring stage (what it scored per source, against the model's
  drift reference); read through the drift gauges;
- `Unpublished`: the aggregation's changelog writes and window updates not yet sent;
- `AlertIndex` (`alert_index.py`): written by its follower task (and a false-positive mark);
  read by GET /alerts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipeline.config import Settings
from pipeline.core.drift import DriftState, Reading, Reference, observe, readings
from pipeline.core.review import ReviewConfig, ReviewState, initial
from pipeline.core.scoring import Scorer
from pipeline.core.step import CoreConfig
from pipeline.core.symbols import SymbolTable
from pipeline.metrics import PipelineMetrics
from pipeline.stream.alert_index import AlertIndex
from pipeline.stream.auth import Policy
from pipeline.stream.watermarks import ProgressReporter

if TYPE_CHECKING:  # the worker's entry module stays importable without loading faust
    import faust


@dataclass
class Health:
    """What /ready and /live report; updated by the agents and the lag timer.

    `lag` is committed lag (log end minus the committed offset, per topic) and progress means a
    commit that moved: a handler stuck on one record, or an agent that died, shows as lag that
    does not shrink, which is exactly what the stall alert and `/live` look for.
    """

    model_loaded: bool = False
    last_progress_monotonic: float = 0.0
    lag: dict[str, int] = field(default_factory=dict)
    fatal: str | None = None  # set when an agent crashed: /live fails, the worker exits non-zero


@dataclass(frozen=True)
class InputLayout:
    """The partitions event time is measured over, read from the broker at start
    (`worker.input_layout`): the watermark waits until every input partition has reported, and
    the scoring stage sends its reports to every scored partition."""

    sources: tuple[str, ...]  # every input partition, as "news.raw/0"
    scored_partitions: int

    @classmethod
    def of(cls, settings: Settings, partitions: int | None = None) -> InputLayout:
        """Every partition of both input topics at `partitions` (default FINSENT_PARTITIONS):
        the layout of topics that finsent creates itself, for tests and tools."""
        n = partitions or settings.partitions
        return cls(tuple(f"{t}/{p}" for t in settings.topics_in() for p in range(n)), n)


@dataclass
class TickerIndex:
    """The tickers this worker aggregates, by scored partition; owned by the aggregation stage.

    Kept outside the table because the table's in-memory store also holds the state of
    partitions revoked in a rebalance: this index says what is *ours* (for the per-ticker
    metrics to forget at revocation), how many records each ticker has waiting for the
    watermark (`finsent_pending_records`), and when each is next due (so a moving watermark
    visits only the states it changes).
    """

    partition: dict[str, int] = field(default_factory=dict)  # ticker -> scored partition
    pending: dict[str, int] = field(default_factory=dict)  # ticker -> records waiting
    due: dict[int, dict[str, int | None]] = field(default_factory=dict)  # partition -> ticker ->

    def hold(self, ticker: str, partition: int, pending: int) -> None:
        """`ticker`'s state was just stored in `partition` with `pending` records waiting."""
        self.partition[ticker] = partition
        self.pending[ticker] = pending

    def waiting(self) -> int:
        """Records waiting for the watermark, over every ticker held here."""
        return sum(self.pending.values())

    def forget(self, partitions: Iterable[int]) -> list[str]:
        """Drop what is known of revoked `partitions`; returns the tickers no longer held."""
        gone = set(partitions)
        for p in gone:
            self.due.pop(p, None)
        tickers = [t for t, p in self.partition.items() if p in gone]
        for t in tickers:
            del self.partition[t]
            self.pending.pop(t, None)
        return tickers


@dataclass
class Unpublished:
    """What the aggregation decided but has not written yet, newest value per key (Kafka
    Streams' record cache): a hot ticker costs one changelog write and one update per open
    window per commit, however many records it folds in between. Both go out just before the
    aggregation commits its offsets (`agents.changelog_before_commit`).

    - `changelog`: table key -> (scored partition, value; None is a tombstone). Written just
      before the aggregation commits its offsets, so a committed offset always has its state on
      the changelog (a crash replays from the commit onto exactly that state).
    - `updates`: (ticker, window, start) -> (scored partition, value) of open windows; a window
      that closes is sent at once and drops its pending update, so no stale update follows it.
    """

    changelog: dict[str, tuple[int, object]] = field(default_factory=dict)
    updates: dict[tuple[str, str, int], tuple[int, bytes]] = field(default_factory=dict)

    def forget(self, partitions: Iterable[int]) -> None:
        """Drop what belongs to revoked `partitions`: their new owner replays from the last
        commit onto the changelog as it was then, so nothing of ours may be written after."""
        gone = set(partitions)
        self.changelog = {k: v for k, v in self.changelog.items() if v[0] not in gone}
        self.updates = {k: v for k, v in self.updates.items() if v[0] not in gone}


@dataclass
class ReviewSelection:
    """The review loop's selection state (`pipeline.core.review`); owned by the scoring stage,
    which replaces `state` only once a batch's outputs are all stored (a batch that fails is
    selected again when it is redelivered).

    In worker memory, not in a changelogged table: after a restart or a rebalance the bucket
    starts full and the picked stories are forgotten, so a story may be reviewed twice. That
    costs a labeller a minute, not a wrong signal, and keeps the scoring stage free of state
    writes (issue #14 watches its throughput)."""

    config: ReviewConfig = field(default_factory=ReviewConfig)
    state: ReviewState = field(default_factory=lambda: initial(ReviewConfig()))

    @classmethod
    def of(cls, config: ReviewConfig) -> ReviewSelection:
        """A fresh selection for `config` (a full bucket, no story picked yet)."""
        return cls(config, initial(config))


@dataclass
class DriftMonitor:
    """Model drift (`pipeline.core.drift`): per source, a decayed window of what the scoring stage
    scored, and the reference from the model's manifest it is compared with. Written by the
    scoring stage only (`count`), read through the drift gauges.

    In worker memory, not in a changelogged table: drift is a monitoring signal, not state a
    result depends on. After a restart or a rebalance the windows start empty and refill within
    about a half-life (the alert's volume gate waits for that); each replica measures what it
    scores. Without a reference (`reference` None) nothing is counted and no gauge exists."""

    reference: Reference | None = None
    state: DriftState = field(default_factory=DriftState)

    def count(self, observations: Sequence[tuple[str, str, float, int]]) -> list[Reading]:
        """Fold a batch's (source, label, confidence, time ms) in; every source's reading after
        (none, and nothing counted, without a reference)."""
        if self.reference is None:
            return []
        self.state = observe(self.state, observations)
        return readings(self.state, self.reference)


@dataclass(frozen=True)
class Runtime:
    """Everything a stream handler needs, built once by `worker.build_runtime`."""

    settings: Settings
    app: faust.App
    scorer: Scorer
    symbols: SymbolTable
    core: CoreConfig
    metrics: PipelineMetrics
    layout: InputLayout
    progress: ProgressReporter
    health: Health = field(default_factory=Health)
    tickers: TickerIndex = field(default_factory=TickerIndex)
    unpublished: Unpublished = field(default_factory=Unpublished)
    review: ReviewSelection = field(default_factory=ReviewSelection)
    # The query API: who may call what (writes are off without a token file), and the alerts
    # GET /alerts answers from (filled by `alert_index.follow`, its one writer besides the
    # false-positive endpoint's own mark).
    access: Policy = field(default_factory=lambda: Policy(None))
    alerts: AlertIndex = field(default_factory=AlertIndex)
    drift: DriftMonitor = field(default_factory=DriftMonitor)  # model drift, scoring stage
