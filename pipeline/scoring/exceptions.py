"""Errors raised by the scoring runtime (pipeline.scoring). Imports nothing heavy."""

from __future__ import annotations

from pipeline.errors import FinsentError


class ScoringError(FinsentError):
    """Base class for errors of the scoring runtime."""


class ModelLoadError(ScoringError):
    """A model directory or file is missing, corrupt, or inconsistent with its manifest.

    The message always names the offending path, so an operator can fix the deployment.
    """
