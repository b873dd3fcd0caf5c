"""Canary and shadow versions beside the served one.

Canary: ``percent`` of requests are answered by another version. The split is sticky:
a request's key (the ``X-Routing-Key`` header, else its request id) is hashed to a
bucket in [0, 100), and buckets below ``percent`` go to the canary, so one user sees
one version and raising the percentage only moves users towards the canary.

Shadow: another version predicts the same rows off the response path
(:class:`~polyclass.serve._shadow.ShadowRunner`); the router only holds it.

Each version is followed by its own :class:`ModelManager`, so promotion (an alias
moving) swaps versions the usual way: atomically, with no request dropped.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from polyclass.serve._manager import ModelManager
from polyclass.serve._served import ServedModel

if TYPE_CHECKING:  # the shadow's module imports ``bucket`` from this one
    from polyclass.serve._shadow import ShadowRunner

__all__ = [
    "ROUTING_HEADER",
    "Router",
    "bucket",
    "parse_canary",
    "parse_shadow",
]

#: The request header whose value keeps a user on one version.
ROUTING_HEADER = "x-routing-key"


def _percent(text: str, option: str, example: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 100.0:
        raise ValueError(
            f"{option} takes a percentage from 0 to 100 after '=', got {text!r}; "
            f"write e.g. {option} {example}."
        )
    return value


def parse_canary(text: str) -> tuple[str, float]:
    """``REF=PCT`` -> (reference, percent of requests)."""
    ref, sep, pct = text.rpartition("=")
    if not sep or not ref:
        raise ValueError(
            f"--canary takes REF=PCT (a model reference and the percentage of requests it "
            f"answers), got {text!r}; write e.g. --canary penguins@challenger=10."
        )
    return ref, _percent(pct, "--canary", "penguins@challenger=10")


def parse_shadow(text: str) -> tuple[str, float]:
    """``REF`` or ``REF=PCT`` -> (reference, percent of requests shadowed; default 100)."""
    ref, sep, pct = text.rpartition("=")
    if not sep:
        return text, 100.0
    if not ref:
        raise ValueError(f"--shadow takes REF or REF=PCT, got {text!r}; e.g. --shadow m:3=50.")
    return ref, _percent(pct, "--shadow", "penguins:3=50")


def bucket(key: str) -> float:
    """A stable position in [0, 100) for ``key`` (the same in every process and run)."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 10_000 / 100.0


class Router:
    """Picks the version answering a request: the served one or, for a share, the canary."""

    def __init__(
        self,
        primary: ModelManager,
        canary: ModelManager | None = None,
        percent: float = 0.0,
        shadow: ShadowRunner | None = None,
    ) -> None:
        self.primary, self.canary, self.shadow = primary, canary, shadow
        self.percent = percent

    @property
    def managers(self) -> list[ModelManager]:
        """Every version followed: served, canary, shadow."""
        extra = [self.canary] if self.canary is not None else []
        if self.shadow is not None:
            extra.append(self.shadow.manager)
        return [self.primary, *extra]

    def pick(self, key: str) -> ServedModel:
        """The version for a request with routing key ``key``."""
        if self.canary is not None and self.percent > 0 and bucket(key) < self.percent:
            return self.canary.current
        return self.primary.current

    def by_version(self, label: str) -> ServedModel | None:
        """A loaded version named in a request's path, if it is one this server holds."""
        for manager in (self.primary, self.canary):
            if manager is not None and manager.current.version_label == label:
                return manager.current
        return None

    def set_percent(self, percent: Any) -> None:
        """Change the canary's share (checked: a number from 0 to 100)."""
        if self.canary is None:
            raise ValueError(
                "This server has no canary; start it with --canary REF=PCT to split traffic."
            )
        if isinstance(percent, bool) or not isinstance(percent, int | float):
            raise ValueError(f"'canary_percent' must be a number from 0 to 100, got {percent!r}.")
        if not 0.0 <= float(percent) <= 100.0:
            raise ValueError(f"'canary_percent' must lie between 0 and 100, got {percent!r}.")
        self.percent = float(percent)

    def describe(self) -> dict[str, Any]:
        """The routing as JSON: versions, split and the shadow's counts."""
        out: dict[str, Any] = {
            "served": {"ref": self.primary.ref, "version": self.primary.current.version_label}
        }
        if self.canary is not None:
            out["canary"] = {
                "ref": self.canary.ref,
                "version": self.canary.current.version_label,
                "percent": self.percent,
            }
        if self.shadow is not None:
            out["shadow"] = {
                "ref": self.shadow.manager.ref,
                "version": self.shadow.manager.current.version_label,
                "percent": self.shadow.percent,
                **self.shadow.counts.to_dict(),
            }
        return out
