"""Canary and shadow versions beside the served one.

Canary: ``percent`` of requests are answered by another version. The split is sticky:
a request's key (the ``X-Routing-Key`` header, else its request id) is hashed to a
bucket in [0, 100), and buckets below ``percent`` go to the canary, so one user sees
one version and raising the percentage only moves users towards the canary.

Shadow: another version predicts the same rows off the response path. The request
handler only puts the parsed rows on a bounded queue (never waiting: a full queue
drops the shadow sample and counts it); one worker thread predicts and logs under the
shadow's version. Its answers are never returned, only logged, and compared with the
served prediction to count the agreement rate.

Each version is followed by its own :class:`ModelManager`, so promotion (an alias
moving) swaps versions the usual way: atomically, with no request dropped.
"""

from __future__ import annotations

import hashlib
import queue
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.serve._manager import ModelManager
from polyclass.serve._served import ServedModel

__all__ = [
    "ROUTING_HEADER",
    "SHADOW_QUEUE",
    "Router",
    "ShadowRunner",
    "bucket",
    "parse_canary",
    "parse_shadow",
]

#: The request header whose value keeps a user on one version.
ROUTING_HEADER = "x-routing-key"
#: Requests waiting for the shadow at most; beyond, shadow samples are dropped (counted).
SHADOW_QUEUE = 1024

Record = Callable[[str, ServedModel, Any], None]


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


@dataclass
class ShadowCounts:
    """What the shadow did: rows compared and agreeing, samples dropped, failures."""

    requests: int = 0
    rows: int = 0
    agreed: int = 0
    dropped: int = 0
    errors: int = 0

    def to_dict(self) -> dict[str, Any]:
        rate = self.agreed / self.rows if self.rows else None
        return {
            "requests": self.requests,
            "rows": self.rows,
            "agreement": rate,
            "dropped": self.dropped,
            "errors": self.errors,
        }


class ShadowRunner:
    """One thread predicting queued requests with the shadow version, then logging them."""

    def __init__(self, manager: ModelManager, percent: float, record: Record) -> None:
        self.manager, self.percent, self.record = manager, percent, record
        self.counts = ShadowCounts()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=SHADOW_QUEUE)
        self._thread: threading.Thread | None = None

    def wants(self, key: str) -> bool:
        """Whether this request is in the shadowed share (sticky, like the canary)."""
        return self.percent >= 100.0 or bucket("shadow:" + key) < self.percent

    def submit(self, request_id: str, table: Any, served: NDArray[np.intp], classes: Any) -> None:
        """Queue a request for the shadow; never waits (a full queue drops it, counted)."""
        try:
            self._queue.put_nowait((request_id, table, served, classes))
        except queue.Full:
            self.counts.dropped += 1

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="polyclass-shadow", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._one(*item)

    def _one(self, request_id: str, table: Any, served: NDArray[np.intp], classes: Any) -> None:
        model = self.manager.current
        try:
            prediction = model.predict(table)
            self.record(request_id, model, prediction)
        except Exception as exc:  # a shadow never affects serving; count and say once
            self.counts.errors += 1
            if self.counts.errors == 1:
                sys.stderr.write(f"polyclass serve: shadow {model.version_label} failed: {exc}\n")
            return
        self.counts.requests += 1
        self.counts.rows += len(served)
        same = model.class_array[prediction.index] == classes[served]
        self.counts.agreed += int(np.count_nonzero(same))

    def stop(self) -> None:
        """Finish the queued requests (so their rows are logged), then stop the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None


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
