"""Shared parts of the deploy tests: the three test regions and their replicated model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from _serve_helpers import Trained

#: region name -> (cloud, residency) of the three test regions.
REGIONS = {"eu-west": ("aws", "eu"), "eu-central": ("gcp", "eu"), "us-east": ("azure", "us")}


@dataclass(frozen=True)
class Replicated:
    """penguins:1 registered and replicated (verified ok) to one file:// store per region."""

    trained: Trained
    registry: Path
    stores: dict[str, str]  # region -> store URL
