#!/usr/bin/env python3
"""Build finsent's three Grafana dashboards with grafana-foundation-sdk (Grafana's dashboard model,
generated from its schemas; a [dev] dependency) and write grafana/dashboards/*.json, then the
k8s/base/dashboards copy (k8s/sync_dashboards.py). The JSON files are rendered output: edit this
module, re-run it, commit both (tests/test_dashboards.py fails on a stale render).

What every dashboard gets here rather than by hand:
- a `datasource` variable (any Prometheus; nothing names a data source uid), and `cluster` /
  `namespace` variables. Every selector carries `cluster=~"|$cluster", namespace=~"|$namespace"`:
  the empty alternative also matches series without those labels (a plain Prometheus, the local
  demo, recording rules that aggregate them away), and "All" is `.*`;
- multi-select tickers (`ticker=~"$ticker"`), filtered by a `sector` variable built from the sector
  column of pipeline/data/symbols.csv (read by column name), and per-sector panels grouping the
  tickers of each sector with `label_replace` (no sector label exists on the metrics);
- data links from the overview's ticker panels to the drill-down, keeping time range and variables;
- a description and a unit on every panel; an undefined z-score (exported as 0 until a ticker has a
  baseline) shows as "no baseline" instead of 0.

Not on the worker's import path: only this script and the tests import it.

Usage:
    python grafana/build_dashboards.py           # write grafana/dashboards/ and the k8s copy
    python grafana/build_dashboards.py --check   # exit 1 if a committed file differs
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import (
    bargauge,
    stat,
    statushistory,
    table,
    timeseries,
)
from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import heatmap as hm
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import heatmap as hmm
from grafana_foundation_sdk.models import prometheus as pm

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "grafana" / "dashboards"
SYMBOLS = REPO / "pipeline" / "data" / "symbols.csv"
SYNC = REPO / "k8s" / "sync_dashboards.py"

DS = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
# Every selector: cluster and namespace from the variables, or series without those labels.
SCOPE = 'cluster=~"|$cluster", namespace=~"|$namespace"'
TICKERS = 'ticker=~"$ticker"'
DRILLDOWN_UID = "finsent-ticker-drilldown"
OVERVIEW_UID = "finsent-market-overview"
HEALTH_UID = "finsent-pipeline-health"
NO_BASELINE = "no baseline"
BUILTIN_ANNOTATIONS = "Annotations & Alerts"
W1H = 'window="1h"'
HL1H = 'half_life="1h"'
HL1D = 'half_life="1d"'
FIRING = 'alertstate="firing"'
ANY_TICKER = 'ticker!=""'
FINSENT_ALERTS = 'alertname=~"Finsent.*"'
W5M1H = 'window=~"5m|1h"'
PSI = 'measure="psi"'
Builder = Any  # a grafana-foundation-sdk panel builder


def sel(metric: str, *matchers: str) -> str:
    """`metric{cluster/namespace scope, matchers...}`."""
    return metric + "{" + ", ".join([SCOPE, *matchers]) + "}"


# -- symbol table: sectors --------------------------------------------------------------------


def sectors(path: Path = SYMBOLS) -> dict[str, list[str]]:
    """Sector -> sorted symbols, from the `symbol` and `sector` columns (other columns ignored)."""
    out: dict[str, list[str]] = defaultdict(list)
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            sector, symbol = (row.get("sector") or "").strip(), (row.get("symbol") or "").strip()
            if sector and symbol:
                out[sector].append(symbol.upper())
    return {s: sorted(set(v)) for s, v in sorted(out.items())}


def ticker_regex(symbols: list[str]) -> str:
    """A PromQL-string-escaped regex alternation (BRK.B -> BRK\\\\.B)."""
    return "|".join(re.escape(s).replace("\\", "\\\\") for s in symbols)


def by_sector(metric_selector: Callable[[str], str], agg: str, groups: dict[str, list[str]]) -> str:
    """`agg by (sector) (...)` over a union of per-sector `label_replace`s: groups tickers by the
    symbol table's sector without a sector label on the metrics. Returns data while any sector
    has a ticker with data."""
    parts = [
        f'label_replace({metric_selector(ticker_regex(syms))}, "sector", "{name}", "", "")'
        for name, syms in groups.items()
    ]
    return f"{agg} by (sector) (\n  " + "\n  or ".join(parts) + "\n)"


# -- building blocks ----------------------------------------------------------------------------


def q(expr: str, legend: str = "__auto", ref: str = "A", *, instant: bool = False) -> Builder:
    t = prom.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DS)
    return t.instant() if instant else t.range()


def place(panel: Builder, title: str, description: str, x: int, y: int, w: int, h: int) -> Builder:
    return (
        panel.title(title)
        .description(description)
        .datasource(DS)
        .grid_pos(dm.GridPos(h=h, w=w, x=x, y=y))
    )


def thresholds(*steps: tuple[str, float | None]) -> Builder:
    return (
        db.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(color=c, value=v) for c, v in steps])
    )


def z_mapping() -> list[dm.ValueMapping]:
    """The worker exports 0 for a z-score without a baseline (fewer than the minimum windows, or
    zero variance); say so instead of drawing a neutral 0."""
    return [
        dm.ValueMap(
            options={"0": dm.ValueMappingResult(text=NO_BASELINE, color="text", index=0)},
        )
    ]


Z_THRESHOLDS = (("red", None), ("orange", -3), ("text", -1), ("green", 1), ("dark-green", 3))


def drilldown_link(label: str = "ticker") -> Builder:
    url = (
        f"/d/{DRILLDOWN_UID}/?var-ticker=${{__field.labels.{label}}}"
        "&${datasource:queryparam}&${cluster:queryparam}&${namespace:queryparam}&${__url_time_range}"
    )
    return db.DashboardLink(f"Drill down: ${{__field.labels.{label}}}").url(url)


def reduce_last() -> Builder:
    return cb.ReduceDataOptions().calcs(["lastNotNull"]).fields("").values(False)


def top_bars(title: str, description: str, expr: str, x: int, y: int, w: int, h: int) -> Builder:
    """A horizontal bar gauge of per-ticker z-scores with a link to each ticker's drill-down."""
    return (
        place(bargauge.Panel(), title, description, x, y, w, h)
        .with_target(q(expr, "{{ticker}}", instant=True))
        .display_mode(common.BarGaugeDisplayMode.LCD)
        .orientation(common.VizOrientation.HORIZONTAL)
        .show_unfilled(True)
        .reduce_options(reduce_last())
        .unit("none")
        .decimals(1)
        .min(-6)
        .max(6)
        .thresholds(thresholds(*Z_THRESHOLDS))
        .mappings(z_mapping())
        .data_links([drilldown_link()])
    )


def series(title: str, description: str, x: int, y: int, w: int, h: int, unit: str) -> Builder:
    return (
        place(timeseries.Panel(), title, description, x, y, w, h)
        .unit(unit)
        .legend(
            cb.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        .tooltip(
            cb.VizTooltipOptions()
            .mode(common.TooltipDisplayMode.MULTI)
            .sort(common.SortOrder.DESCENDING)
        )
    )


def dashboard(uid: str, title: str, description: str, refresh: str = "30s") -> Builder:
    return (
        db.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["finsent"])
        .timezone("utc")
        .editable()
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .refresh(refresh)
        .time("now-6h", "now")
        .link(
            db.DashboardLink("finsent dashboards")
            .type(dm.DashboardLinkType.DASHBOARDS)
            .tags(["finsent"])
            .as_dropdown(True)
            .keep_time(True)
            .include_vars(True)
        )
        .annotation(
            db.AnnotationQuery()
            .name(BUILTIN_ANNOTATIONS)
            .datasource(dm.DataSourceRef(type_val="grafana", uid="-- Grafana --"))
            .enable(True)
            .hide(True)
            .icon_color("rgba(0, 211, 255, 1)")
            .type("dashboard")
        )
        .with_variable(db.DatasourceVariable("datasource").label("Data source").type("prometheus"))
        .with_variable(
            db.QueryVariable("cluster")
            .label("Cluster")
            .datasource(DS)
            .query("label_values(finsent_model_info, cluster)")
            .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .include_all(True)
            .all_value(".*")
            .sort(dm.VariableSort.ALPHABETICAL_ASC)
        )
        .with_variable(
            db.QueryVariable("namespace")
            .label("Namespace")
            .datasource(DS)
            .query('label_values(finsent_model_info{cluster=~"|$cluster"}, namespace)')
            .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .include_all(True)
            .all_value(".*")
            .sort(dm.VariableSort.ALPHABETICAL_ASC)
        )
    )


def with_ticker_variables(dash: Builder, groups: dict[str, list[str]]) -> Builder:
    """`sector` (custom: name -> ticker regex) and multi-select `ticker` filtered by it.

    The sector variable is single-select without Grafana's "All" on purpose: Grafana regex-escapes
    the value of a multi/"All" variable, which would turn the `|` of the alternation into `\\|`.
    "All sectors" is an ordinary option whose value is `.*`."""
    options = [("All sectors", ".*")] + [
        (name, ticker_regex(syms)) for name, syms in groups.items()
    ]
    values = ", ".join(f"{name} : {rx}" for name, rx in options)
    return dash.with_variable(
        db.CustomVariable("sector")
        .label("Sector")
        .values(values)
        .current(dm.VariableOption(text="All sectors", value=".*", selected=True))
    ).with_variable(
        db.QueryVariable("ticker")
        .label("Ticker")
        .datasource(DS)
        .query(f'label_values(finsent_ticker_window_items{{{SCOPE}, ticker=~"$sector"}}, ticker)')
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )


# -- the three dashboards -------------------------------------------------------------------------


def market_overview(groups: dict[str, list[str]]) -> Builder:
    z = "ticker_window:finsent_ticker_sentiment_zscore:max"
    vz = "ticker_window:finsent_ticker_volume_zscore:max"
    d = dashboard(
        OVERVIEW_UID,
        "finsent / Market overview",
        "Which watch-list tickers move now: sentiment and volume against their own baselines. "
        "Click a ticker for its drill-down.",
    )
    d = with_ticker_variables(d, groups)
    d = d.with_panel(
        top_bars(
            "Top movers down: sentiment z-score (1h)",
            "Current hour's weighted sentiment vs each ticker's own baseline; < -3 with volume "
            "pages (SentimentCollapse). Click a bar for the ticker's drill-down.",
            f"bottomk(10, {sel(z, W1H, TICKERS)})",
            0,
            0,
            8,
            9,
        )
    )
    d = d.with_panel(
        top_bars(
            "Top movers up: sentiment z-score (1h)",
            "Current hour's weighted sentiment vs each ticker's own baseline; > 3 with volume "
            "pages (SentimentSurge). Click a bar for the ticker's drill-down.",
            f"topk(10, {sel(z, W1H, TICKERS)})",
            8,
            0,
            8,
            9,
        )
    )
    d = d.with_panel(
        top_bars(
            "Top volume z-score (1h)",
            "Stories about the ticker in the current hour vs its own hourly baseline; > 4 pages "
            "(VolumeSpike). Click a bar for the ticker's drill-down.",
            f"topk(10, {sel(vz, W1H, TICKERS)})",
            16,
            0,
            8,
            9,
        )
    )
    d = d.with_panel(
        place(
            statushistory.Panel(),
            "Sentiment heatmap: weighted score per ticker (1h window)",
            "One row per selected ticker; colour = current-hour weighted score in [-1, 1] "
            "(red negative, green positive).",
            0,
            9,
            24,
            12,
        )
        .with_target(
            q(
                f"max by (ticker) ({sel('finsent_ticker_sentiment_score', W1H, TICKERS)})",
                "{{ticker}}",
            )
        )
        .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.CONTINUOUS_RD_YL_GR))
        .unit("none")
        .min(-1)
        .max(1)
        .decimals(2)
        .show_value(common.VisibilityMode.NEVER)
        .row_height(0.9)
        .col_width(0.9)
        .max_data_points(60)
        .data_links(
            [
                db.DashboardLink("Drill down: ${__field.labels.ticker}").url(
                    f"/d/{DRILLDOWN_UID}/?var-ticker=${{__field.labels.ticker}}"
                    "&${datasource:queryparam}&${__url_time_range}"
                )
            ]
        )
    )
    d = d.with_panel(
        place(
            statushistory.Panel(),
            "z-score heatmap per ticker (1h window)",
            "Sentiment z-score of the current hour against the ticker's own baseline; "
            f'"{NO_BASELINE}" until a ticker has enough history for one.',
            0,
            21,
            24,
            12,
        )
        .with_target(q(sel(z, W1H, TICKERS), "{{ticker}}"))
        .unit("none")
        .decimals(1)
        .min(-4)
        .max(4)
        .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.CONTINUOUS_RD_YL_GR))
        .mappings(z_mapping())
        .show_value(common.VisibilityMode.NEVER)
        .max_data_points(60)
    )
    d = d.with_panel(
        series(
            "Story volume: top 15 tickers (stories/min, 5m rate)",
            'Item x ticker records aggregated, repeats included; ticker="other" sums every '
            "ticker outside the watch-list.",
            0,
            33,
            12,
            9,
            "suffix: stories/min",
        ).with_target(
            q(
                f"topk(15, {sel('ticker:finsent_ticker_mentions:rate5m', TICKERS)}) * 60",
                "{{ticker}}",
            )
        )
    )
    d = d.with_panel(
        place(
            bargauge.Panel(),
            "Stories in the current hour",
            "New (non-repeat) stories per ticker in the current 1h window, top 15.",
            12,
            33,
            6,
            9,
        )
        .with_target(
            q(
                f"topk(15, max by (ticker) ({sel('finsent_ticker_window_items', W1H, TICKERS)}))",
                "{{ticker}}",
                instant=True,
            )
        )
        .orientation(common.VizOrientation.HORIZONTAL)
        .reduce_options(reduce_last())
        .unit("short")
        .data_links([drilldown_link()])
    )
    d = d.with_panel(
        place(
            stat.Panel(),
            "Ticker alerts firing",
            "Ticker alerts (SentimentCollapse, SentimentSurge, VolumeSpike) firing in "
            "Prometheus now, over all tickers.",
            18,
            33,
            6,
            9,
        )
        .with_target(q(f"count({sel('ALERTS', FIRING, ANY_TICKER)}) or vector(0)", instant=True))
        .unit("none")
        .thresholds(thresholds(("green", None), ("red", 1)))
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.NONE)
        .reduce_options(reduce_last())
    )
    d = d.with_panel(
        series(
            "Decayed sentiment (1h half-life)",
            "Exponentially decayed sentiment per ticker (half-life 1h): reacts within minutes, "
            "forgets within hours.",
            0,
            42,
            12,
            9,
            "none",
        )
        .with_target(
            q(
                f"max by (ticker) ({sel('finsent_ticker_decayed_score', HL1H, TICKERS)})",
                "{{ticker}}",
            )
        )
        .min(-1)
        .max(1)
    )
    d = d.with_panel(
        place(
            bargauge.Panel(),
            "Share negative, current hour",
            "Share of the current hour's new stories labelled negative, top 10 tickers.",
            12,
            42,
            12,
            9,
        )
        .with_target(
            q(
                f"topk(10, max by (ticker) ({sel('finsent_ticker_negative_ratio', W1H, TICKERS)}))",
                "{{ticker}}",
                instant=True,
            )
        )
        .orientation(common.VizOrientation.HORIZONTAL)
        .reduce_options(reduce_last())
        .unit("percentunit")
        .min(0)
        .max(1)
        .data_links([drilldown_link()])
    )
    d = d.with_panel(
        series(
            "Sentiment by sector (1h window, mean over tickers)",
            "Mean current-hour weighted score of the tickers of each sector (sector from the "
            "symbol table, pipeline/data/symbols.csv; tickers outside the watch-list are summed "
            'under "other" and not in any sector).',
            0,
            51,
            12,
            9,
            "none",
        )
        .with_target(
            q(
                by_sector(
                    lambda rx: sel("finsent_ticker_sentiment_score", W1H, f'ticker=~"{rx}"'),
                    "avg",
                    groups,
                ),
                "{{sector}}",
            )
        )
        .min(-1)
        .max(1)
    )
    d = d.with_panel(
        place(
            bargauge.Panel(),
            "Stories this hour by sector",
            "New stories in the current 1h window, summed over the tickers of each sector "
            "(sector from the symbol table).",
            12,
            51,
            12,
            9,
        )
        .with_target(
            q(
                by_sector(
                    lambda rx: (
                        "max by (ticker) ("
                        + sel("finsent_ticker_window_items", W1H, f'ticker=~"{rx}"')
                        + ")"
                    ),
                    "sum",
                    groups,
                ),
                "{{sector}}",
                instant=True,
            )
        )
        .orientation(common.VizOrientation.HORIZONTAL)
        .reduce_options(reduce_last())
        .unit("short")
    )
    return d


def ticker_drilldown(groups: dict[str, list[str]]) -> Builder:
    z = "ticker_window:finsent_ticker_sentiment_zscore:max"
    vz = "ticker_window:finsent_ticker_volume_zscore:max"
    d = dashboard(
        DRILLDOWN_UID,
        "finsent / Ticker drill-down",
        "One or more tickers in detail: windows, decay, z-scores, volume, label mix, alerts.",
    )
    d = with_ticker_variables(d, groups)
    d = d.link(
        db.DashboardLink("Market overview")
        .type(dm.DashboardLinkType.LINK)
        .url(f"/d/{OVERVIEW_UID}/")
        .keep_time(True)
        .include_vars(True)
    )
    d = d.annotation(
        db.AnnotationQuery()
        .name("Alerts")
        .datasource(DS)
        .enable(True)
        .icon_color("red")
        .expr(f"{sel('ALERTS', TICKERS, FIRING)}")
    )

    def big(title: str, description: str, expr: str, x: int, unit: str, z_score: bool) -> Builder:
        p = (
            place(stat.Panel(), title, description, x, 0, 6, 5)
            .with_target(q(expr, "{{ticker}}", instant=True))
            .unit(unit)
            .decimals(2 if not z_score else 1)
            .reduce_options(reduce_last())
            .graph_mode(common.BigValueGraphMode.NONE)
        )
        if z_score:
            p = p.thresholds(thresholds(*Z_THRESHOLDS)).mappings(z_mapping())
        return p

    d = d.with_panel(
        big(
            "Sentiment z-score (1h)",
            f'Current hour vs the ticker\'s own baseline; "{NO_BASELINE}" until it has one.',
            sel(z, TICKERS, W1H),
            0,
            "none",
            True,
        )
    )
    d = d.with_panel(
        big(
            "Volume z-score (1h)",
            f'Stories this hour vs the hourly baseline; "{NO_BASELINE}" until it has one.',
            sel(vz, TICKERS, W1H),
            6,
            "none",
            True,
        )
    )
    d = d.with_panel(
        big(
            "Stories this hour",
            "New (non-repeat) stories in the current 1h window.",
            f"max by (ticker) ({sel('finsent_ticker_window_items', TICKERS, W1H)})",
            12,
            "short",
            False,
        )
    )
    d = d.with_panel(
        big(
            "Decayed score (1d half-life)",
            "Exponentially decayed sentiment with a one-day half-life, in [-1, 1].",
            f"max by (ticker) ({sel('finsent_ticker_decayed_score', TICKERS, HL1D)})",
            18,
            "none",
            False,
        )
    )
    d = d.with_panel(
        series(
            "Weighted sentiment score by window",
            "Weighted mean score of the current window, one line per ticker and window.",
            0,
            5,
            12,
            9,
            "none",
        )
        .with_target(
            q(
                f"max by (ticker, window) ({sel('finsent_ticker_sentiment_score', TICKERS)})",
                "{{ticker}} {{window}}",
            )
        )
        .min(-1)
        .max(1)
    )
    d = d.with_panel(
        series(
            "Decayed score",
            "Exponentially decayed sentiment, one line per ticker and half-life.",
            12,
            5,
            12,
            9,
            "none",
        )
        .with_target(
            q(
                f"max by (ticker, half_life) ({sel('finsent_ticker_decayed_score', TICKERS)})",
                "{{ticker}} {{half_life}}",
            )
        )
        .min(-1)
        .max(1)
    )
    d = d.with_panel(
        series(
            "z-scores vs own baseline",
            "Sentiment and volume z-scores of the baseline window; alert thresholds at -3/3 "
            f'(sentiment) and 4 (volume). "{NO_BASELINE}" in the tooltip: no baseline yet.',
            0,
            14,
            12,
            9,
            "none",
        )
        .with_target(q(sel(z, TICKERS), "{{ticker}} sentiment z ({{window}})", "A"))
        .with_target(q(sel(vz, TICKERS), "{{ticker}} volume z ({{window}})", "B"))
        .mappings(z_mapping())
    )
    d = d.with_panel(
        series(
            "Volume",
            "Stories in the 5m and 1h windows (new stories) and the 5m rate of item x ticker "
            "records (repeats included), per minute.",
            12,
            14,
            12,
            9,
            "short",
        )
        .with_target(
            q(
                f"max by (ticker, window) ({sel('finsent_ticker_window_items', TICKERS, W5M1H)})",
                "{{ticker}} stories ({{window}})",
                "A",
            )
        )
        .with_target(
            q(
                f"{sel('ticker:finsent_ticker_mentions:rate5m', TICKERS)} * 60",
                "{{ticker}} records/min",
                "B",
            )
        )
    )
    pos = sel("finsent_ticker_positive_ratio", TICKERS, W1H)
    neg = sel("finsent_ticker_negative_ratio", TICKERS, W1H)
    d = d.with_panel(
        series(
            "Positive / negative mix (current hour)",
            "Share of the current hour's new stories per label; neutral is the rest.",
            0,
            23,
            12,
            9,
            "percentunit",
        )
        .with_target(q(f"max by (ticker) ({pos})", "{{ticker}} positive", "A"))
        .with_target(q(f"max by (ticker) ({neg})", "{{ticker}} negative", "B"))
        .with_target(
            q(f"1 - max by (ticker) ({pos}) - max by (ticker) ({neg})", "{{ticker}} neutral", "C")
        )
        .min(0)
        .max(1)
    )
    d = d.with_panel(
        place(
            table.Panel(),
            "Alerts on this ticker",
            "Prometheus alerts (pending or firing) whose ticker label is selected.",
            12,
            23,
            12,
            9,
        )
        .with_target(q(sel("ALERTS", TICKERS), instant=True).format(pm.PromQueryFormat.TABLE))
        .unit("none")
        .show_header(True)
        .with_transformation(
            dm.DataTransformerConfig(
                id_val="organize",
                options={"excludeByName": {"Time": True, "Value": True, "__name__": True}},
            )
        )
    )
    return d


def pipeline_health() -> Builder:
    d = dashboard(
        HEALTH_UID,
        "finsent / Pipeline health",
        "Is the stream worker keeping up: throughput, lag, dead letters, latency, model version.",
    )
    rows: list[tuple[str, str, list[tuple[str, str]], str, tuple[int, int, int, int]]] = [
        (
            "Input throughput by source (records/s)",
            "Records consumed from news.raw and social.raw, 5m rate per job and source.",
            [(sel("job_source:finsent_items_consumed:rate5m"), "{{source}}")],
            "reqps",
            (0, 0, 8, 8),
        ),
        (
            "Output by topic (records/s)",
            "Records produced per output topic (scored, aggregates, alerts, DLQs), 5m rate.",
            [(sel("job_topic:finsent_items_produced:rate5m"), "{{topic}}")],
            "reqps",
            (8, 0, 8, 8),
        ),
        (
            "Consumer lag (records)",
            "Records behind the log end per input topic, summed over partitions; KEDA scales on "
            "it.",
            [(sel("job_topic:finsent_consumer_lag_records:sum"), "{{topic}}")],
            "short",
            (16, 0, 8, 8),
        ),
        (
            "Dead-lettered by reason (records/s)",
            "Input records sent to a *.dlq topic, by reason (FinsentDeadLetterRateHigh above 5 %).",
            [(sel("job_reason:finsent_dead_letters:rate5m"), "{{reason}}")],
            "reqps",
            (0, 8, 8, 8),
        ),
        (
            "Novelty verdicts (records/s)",
            "Linked mentions by novelty verdict (new, repeat, ...) and items that named no ticker.",
            [
                (f"sum by (verdict) (rate({sel('finsent_mentions_total')}[5m]))", "{{verdict}}"),
                (f"sum(rate({sel('finsent_items_unlinked_total')}[5m]))", "unlinked"),
            ],
            "reqps",
            (8, 8, 8, 8),
        ),
        (
            "Seconds since last progress",
            "Wall-clock seconds since each stage of each worker last processed a record; with lag "
            "above 0 and more than 120 s, FinsentPipelineStalled fires.",
            [
                (
                    "time() - max by (instance, stage) ("
                    + sel("finsent_last_item_processed_timestamp_seconds")
                    + ")",
                    "{{instance}} {{stage}}",
                )
            ],
            "s",
            (16, 8, 8, 8),
        ),
    ]
    for title, description, targets, unit, (x, y, w, h) in rows:
        p = series(title, description, x, y, w, h, unit)
        for i, (expr, legend) in enumerate(targets):
            p = p.with_target(q(expr, legend, "ABCDEFGH"[i]))
        d = d.with_panel(p)
    d = d.with_panel(
        place(
            hm.Panel(),
            "Batch size distribution",
            "Records per scoring micro-batch (histogram), 5m increase per bucket.",
            0,
            16,
            8,
            8,
        )
        .with_target(
            q(f"sum by (le) (increase({sel('finsent_batch_size_bucket')}[5m]))", "{{le}}").format(
                pm.PromQueryFormat.HEATMAP
            )
        )
        .calculate(False)
        .unit("short")
        .cell_gap(1)
        .y_axis(hm.YAxisConfig().unit("short").axis_placement(common.AxisPlacement.LEFT))
        .color(
            hm.HeatmapColorOptions()
            .mode(hmm.HeatmapColorMode.SCHEME)
            .scheme("Oranges")
            .fill("dark-orange")
            .scale(hmm.HeatmapColorScale.EXPONENTIAL)
            .exponent(0.5)
            .steps(64)
            .reverse(False)
        )
    )
    more: list[tuple[str, str, list[tuple[str, str]], str, tuple[int, int, int, int]]] = [
        (
            "Mean batch size",
            "Mean records per scoring micro-batch over 5m; small batches under load mean the "
            "max-delay flush dominates.",
            [(sel("job:finsent_batch_size:mean_rate5m"), "{{job}}")],
            "short",
            (8, 16, 8, 8),
        ),
        (
            "Inference latency per batch",
            "Model time per micro-batch, p99 and p50 over 5m (FinsentInferenceLatencyHigh above "
            "1 s).",
            [
                (sel("job:finsent_inference_duration_seconds:p99_rate5m"), "p99 {{job}}"),
                (sel("job:finsent_inference_duration_seconds:p50_rate5m"), "p50 {{job}}"),
            ],
            "s",
            (16, 16, 8, 8),
        ),
    ]
    for title, description, targets, unit, (x, y, w, h) in more:
        p = series(title, description, x, y, w, h, unit)
        for i, (expr, legend) in enumerate(targets):
            p = p.with_target(q(expr, legend, "ABCDEFGH"[i]))
        d = d.with_panel(p)
    d = d.with_panel(
        place(
            table.Panel(),
            "Model version and execution provider",
            "finsent_model_info per worker: model version and the ONNX Runtime provider it "
            "really runs on (a GPU pod that fell back to CPU shows CPUExecutionProvider).",
            0,
            24,
            12,
            7,
        )
        .with_target(q(sel("finsent_model_info"), instant=True).format(pm.PromQueryFormat.TABLE))
        .unit("none")
        .show_header(True)
        .with_transformation(
            dm.DataTransformerConfig(
                id_val="organize",
                options={"excludeByName": {"Time": True, "Value": True, "__name__": True}},
            )
        )
    )
    tail: list[tuple[str, str, list[tuple[str, str]], str, tuple[int, int, int, int]]] = [
        (
            "Late, duplicate and skipped records (records/s)",
            "Records older than the allowed lateness (dropped from windows), redelivered "
            "duplicates, and offsets the stream skipped (holes), 5m rates.",
            [
                (f"sum(rate({sel('finsent_late_records_total')}[5m]))", "late"),
                (f"sum(rate({sel('finsent_duplicate_records_total')}[5m]))", "duplicate"),
                (f"sum(rate({sel('finsent_stream_holes_total')}[5m]))", "skipped (holes)"),
                (f"sum(rate({sel('finsent_forced_folds_total')}[5m]))", "folded early"),
            ],
            "reqps",
            (12, 24, 12, 7),
        ),
        (
            "Event-time freshness (s behind wall clock)",
            "Wall clock minus the newest event time each worker has folded in, and minus its "
            "watermark (the event time every input partition has reached; records wait until "
            "it passes them): how far behind real time the windows are.",
            [
                (
                    f"time() - max by (instance) ({sel('finsent_last_event_timestamp_seconds')})",
                    "{{instance}}",
                ),
                (
                    f"time() - min by (instance) ({sel('finsent_watermark_timestamp_seconds')})",
                    "watermark {{instance}}",
                ),
            ],
            "s",
            (0, 31, 12, 7),
        ),
        (
            "In-stream alert events published (per hour)",
            "Alert events the core published to sentiment.alerts, per rule and severity, 1h "
            "increase.",
            [
                (
                    f"sum by (rule, severity) (increase({sel('finsent_alerts_fired_total')}[1h]))",
                    "{{rule}} ({{severity}})",
                )
            ],
            "short",
            (12, 31, 12, 7),
        ),
    ]
    for title, description, targets, unit, (x, y, w, h) in tail:
        p = series(title, description, x, y, w, h, unit)
        for i, (expr, legend) in enumerate(targets):
            p = p.with_target(q(expr, legend, "ABCDEFGH"[i]))
        d = d.with_panel(p)
    d = d.with_panel(
        place(
            stat.Panel(),
            "Pipeline alerts firing",
            "Finsent* alerts firing in Prometheus now (pipeline and ticker rules).",
            0,
            38,
            6,
            5,
        )
        .with_target(
            q(f"count({sel('ALERTS', FINSENT_ALERTS, FIRING)}) or vector(0)", instant=True)
        )
        .unit("none")
        .thresholds(thresholds(("green", None), ("red", 1)))
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.NONE)
        .reduce_options(reduce_last())
    )
    d = d.with_panel(
        place(
            stat.Panel(),
            "Workers scraped",
            "Workers whose /metrics Prometheus scrapes now (one finsent_model_info each).",
            6,
            38,
            6,
            5,
        )
        .with_target(q(f"count({sel('finsent_model_info')})", instant=True))
        .unit("none")
        .reduce_options(reduce_last())
        .graph_mode(common.BigValueGraphMode.NONE)
    )
    return with_model_drift(d, 43)


def with_model_drift(d: Builder, y: int) -> Builder:
    """The "Model drift" row (pipeline/core/drift.py, README "Model drift"): PSI per source and
    distribution with the 0.1 / 0.25 reading as threshold lines, each source's label mix next to
    the model's reference, the window volume the alert gates on, and the median confidence."""
    dashed = cb.GraphThresholdsStyleConfig().mode(common.GraphTresholdsStyleMode.DASHED)
    d = d.with_row(db.Row("Model drift").grid_pos(dm.GridPos(h=1, w=24, x=0, y=y)))
    d = d.with_panel(
        series(
            "Model drift: PSI per source",
            "Population stability index of what was scored (each source's decayed window) "
            "against the model's own predictions on its held-out data, for the label mix and "
            "the confidence histogram: < 0.1 stable, 0.1-0.25 moderate, > 0.25 significant "
            "(FinsentModelDrift, with at least 200 items in the window, for 30m).",
            0,
            y + 1,
            12,
            8,
            "none",
        )
        .with_target(
            q(
                f"max by (source, distribution) ({sel('finsent_model_drift', PSI)})",
                "{{source}} {{distribution}}",
            )
        )
        .thresholds(thresholds(("green", None), ("orange", 0.1), ("red", 0.25)))
        .thresholds_style(dashed)
    )
    d = d.with_panel(
        place(
            bargauge.Panel(),
            "Label mix per source vs the reference",
            "Share of each label in each source's drift window now, and in the model's "
            "predictions on its held-out validation data (the manifest's reference).",
            12,
            y + 1,
            12,
            8,
        )
        .with_target(
            q(
                f"avg by (source, label) ({sel('finsent_model_label_share')})",
                "{{source}} {{label}}",
                instant=True,
            )
        )
        .with_target(
            q(
                f"avg by (label) ({sel('finsent_model_reference_label_share')})",
                "reference {{label}}",
                "B",
                instant=True,
            )
        )
        .display_mode(common.BarGaugeDisplayMode.BASIC)
        .orientation(common.VizOrientation.HORIZONTAL)
        .reduce_options(reduce_last())
        .unit("percentunit")
        .min(0)
        .max(1)
    )
    d = d.with_panel(
        series(
            "Drift window items",
            "Items in each source's drift window (exponentially decayed count, half-life "
            "FINSENT_DRIFT_HALF_LIFE), the largest worker's: FinsentModelDrift needs 200 on a "
            "worker, below that a histogram's PSI is mostly sampling noise.",
            0,
            y + 9,
            12,
            7,
            "short",
        )
        .with_target(
            q(f"max by (source) ({sel('finsent_model_drift_window_items')})", "{{source}}")
        )
        .thresholds(thresholds(("transparent", None), ("blue", 200)))
        .thresholds_style(dashed)
    )
    return d.with_panel(
        series(
            "Median confidence per source",
            "Median max class probability of the items scored in the last hour, per source "
            "(finsent_model_confidence histogram, the drift bins over [1/3, 1]); a falling "
            "median means the model is less sure of what it reads.",
            12,
            y + 9,
            12,
            7,
            "percentunit",
        ).with_target(
            q(
                "histogram_quantile(0.5, sum by (source, le) "
                f"(rate({sel('finsent_model_confidence_bucket')}[1h])))",
                "{{source}}",
            )
        )
    )


# -- render ---------------------------------------------------------------------------------------


ANNOTATION_EXTRAS: dict[str, dict[str, Any]] = {
    BUILTIN_ANNOTATIONS: {"builtIn": 1},
    "Alerts": {
        "step": "60s",
        "titleFormat": "{{alertname}}",
        "textFormat": "{{alertname}} ({{severity}}) on {{ticker}}",
        "tagKeys": "severity,alertname",
        "useValueForTime": False,
    },
}


def build() -> dict[str, dict[str, Any]]:
    """File stem -> dashboard JSON model."""
    groups = sectors()
    out = {}
    for stem, builder in (
        ("market-overview", market_overview(groups)),
        ("ticker-drilldown", ticker_drilldown(groups)),
        ("pipeline-health", pipeline_health()),
    ):
        model = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
        for ann in model.get("annotations", {}).get("list", []):
            # Prometheus annotation fields the SDK's generic AnnotationQuery does not model
            ann.update(ANNOTATION_EXTRAS.get(ann.get("name", ""), {}))
        for i, panel in enumerate(model.get("panels", []), start=1):
            panel["id"] = i
        out[stem] = model
    return out


def render() -> dict[Path, str]:
    return {OUT / f"{stem}.json": json.dumps(m, indent=2) + "\n" for stem, m in build().items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a committed file is stale")
    args = parser.parse_args(argv)
    want = render()
    if args.check:
        stale = [p for p, text in want.items() if not p.exists() or p.read_text() != text]
        stale += [p for p in OUT.glob("*.json") if p not in want]
        for p in stale:
            print(f"stale: {p.relative_to(REPO)}")
        if stale:
            print("run: python grafana/build_dashboards.py")
        return 1 if stale else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for p in OUT.glob("*.json"):
        if p not in want:
            p.unlink()
    for path, text in want.items():
        path.write_text(text)
        print(f"wrote {path.relative_to(REPO)}")
    return subprocess.run([sys.executable, str(SYNC)], check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
