"""The query API's OpenAPI 3.1 description, served at GET /openapi.json.

Written as data next to the handlers (`api.py`) rather than generated: faust's web layer has no
schema support, and the description is short. tests/stream/test_api_views.py validates it with
openapi-spec-validator and checks that every path the worker serves is described.
"""

from __future__ import annotations

from typing import Any

from pipeline import __version__
from pipeline.config import Settings
from pipeline.stream.query import MAX_LIMIT, SORTS

_ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "A query parameter or body the API cannot use (the message names it)",
        401: "Missing or invalid bearer token",
        403: "Writes are off: the worker has no FINSENT_API_TOKEN_FILE",
        404: "Not found (the message says what)",
        503: "Rebalancing, or the owning worker did not answer: retry (Retry-After)",
    }
    return {str(c): _json(_ERROR, text[c]) for c in codes}


def spec(settings: Settings) -> dict[str, Any]:
    """The description, with the security that FINSENT_API_READ_AUTH / _METRICS_AUTH select."""
    read_security: list[dict[str, list[str]]] = [{"bearer": []}] if settings.api_read_auth else []
    metrics_security: list[dict[str, list[str]]] = [{"bearer": []}] if settings.metrics_auth else []
    limit = {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 100},
    }
    ticker_path = {"name": "ticker", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "finsent worker API",
            "version": __version__,
            "description": (
                "Per-ticker sentiment analytics, recent alerts and on-demand scoring. Any worker "
                "answers: /tickers/{ticker} is forwarded to the worker that owns the ticker, "
                "/tickers asks every worker, /alerts is kept by every worker from the alerts "
                "topic. Times are event time in epoch milliseconds (UTC)."
            ),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}},
                    "required": ["error"],
                },
                "Evidence": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "source": {"type": "string"},
                        "score": {"type": "number"},
                        "weight": {"type": "number"},
                        "text": {"type": "string"},
                    },
                },
                "Alert": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "description": "rule:ticker:window:start_ms"},
                        "rule": {"type": "string"},
                        "ticker": {"type": "string"},
                        "severity": {"type": "string"},
                        "window": {"type": "string"},
                        "window_start_ms": {"type": "integer"},
                        "event_ms": {"type": "integer"},
                        "values": {"type": "object"},
                        "summary": {"type": "string"},
                        "evidence": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Evidence"},
                        },
                        "false_positive": {
                            "oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Mark"}]
                        },
                    },
                },
                "Mark": {
                    "type": "object",
                    "properties": {
                        "by": {"type": "string"},
                        "reason": {"type": "string"},
                        "marked_ms": {"type": "integer"},
                    },
                },
                "TickerRow": {
                    "type": "object",
                    "properties": {
                        "ticker": {"type": "string"},
                        "event_ms": {"type": "integer"},
                        "window": {"type": "string"},
                        "volume": {"type": "integer"},
                        "unique": {"type": "integer"},
                        "score": {"type": ["number", "null"]},
                        "share_negative": {"type": ["number", "null"]},
                        "sentiment_z": {"type": ["number", "null"]},
                        "volume_z": {"type": ["number", "null"]},
                        "abs_z": {"type": ["number", "null"]},
                        "decayed": {"type": "object"},
                    },
                },
            },
        },
        "paths": {
            "/tickers": {
                "get": {
                    "summary": "Every ticker's current state (top movers by default)",
                    "security": read_security,
                    "parameters": [
                        {
                            "name": "sort",
                            "in": "query",
                            "schema": {"type": "string", "enum": list(SORTS), "default": "abs_z"},
                        },
                        {
                            "name": "order",
                            "in": "query",
                            "schema": {
                                "type": "string",
                                "enum": ["asc", "desc"],
                                "default": "desc",
                            },
                        },
                        limit,
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "tickers": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/TickerRow"},
                                    },
                                    "workers": {"type": "integer"},
                                    "incomplete": {
                                        "type": "array",
                                        "items": {"type": "string"},
                                        "description": "workers that did not answer in time",
                                    },
                                },
                            },
                            "Rows sorted; missing values last",
                        ),
                        **_errors(400, 401),
                    },
                }
            },
            "/tickers/{ticker}": {
                "get": {
                    "summary": "One ticker: windows, decayed scores, z-scores, evidence",
                    "security": read_security,
                    "parameters": [ticker_path],
                    "responses": {
                        "200": _json(
                            {"type": "object", "properties": {"has_data": {"type": "boolean"}}},
                            "The ticker's analytics; has_data false for a known ticker with none",
                        ),
                        **_errors(401, 404, 503),
                    },
                }
            },
            "/alerts": {
                "get": {
                    "summary": "Recent in-stream alerts with evidence and false-positive marks",
                    "security": read_security,
                    "parameters": [
                        {"name": "ticker", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "since",
                            "in": "query",
                            "description": "epoch ms or ISO-8601 with a zone (event time)",
                            "schema": {"type": "string"},
                        },
                        limit,
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "alerts": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Alert"},
                                    },
                                    "complete": {"type": "boolean"},
                                    "horizon": {"type": "string"},
                                },
                            },
                            "Newest first",
                        ),
                        **_errors(400, 401, 404),
                    },
                }
            },
            "/alerts/{alert_id}/false-positive": {
                "parameters": [
                    {
                        "name": "alert_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "post": {
                    "summary": "Mark an alert as a false positive; its evidence goes to review",
                    "security": [{"bearer": []}],
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "by": {"type": "string"},
                                        "reason": {"type": "string"},
                                    },
                                }
                            }
                        }
                    },
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Alert"}, "The marked alert"),
                        **_errors(400, 401, 403, 404),
                    },
                },
                "delete": {
                    "summary": "Withdraw a false-positive mark",
                    "security": [{"bearer": []}],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Alert"}, "The alert"),
                        **_errors(401, 403, 404),
                    },
                },
            },
            "/score": {
                "post": {
                    "summary": "Score texts with the stream's model and link their tickers",
                    "security": [{"bearer": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["texts"],
                                    "properties": {
                                        "texts": {
                                            "type": "array",
                                            "minItems": 1,
                                            "maxItems": settings.api_score_max_texts,
                                            "items": {"type": "string", "minLength": 1},
                                        }
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "model": {"type": "string"},
                                    "results": {"type": "array", "items": {"type": "object"}},
                                },
                            },
                            "One result per text, in order",
                        ),
                        **_errors(400, 401, 403),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics of this worker",
                    "security": metrics_security,
                    "responses": {"200": {"description": "Prometheus text format"}},
                }
            },
            "/ready": {
                "get": {
                    "summary": "Readiness",
                    "responses": {
                        "200": {"description": "ready"},
                        "503": {"description": "not ready"},
                    },
                }
            },
            "/live": {
                "get": {
                    "summary": "Liveness",
                    "responses": {
                        "200": {"description": "live"},
                        "503": {"description": "stalled"},
                    },
                }
            },
        },
    }
