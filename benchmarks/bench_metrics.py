"""polyclass.metrics against sklearn.metrics, side by side in one run.

Usage: ``python benchmarks/bench_metrics.py [--quick]``. ``--quick`` shrinks n so the
script finishes in seconds (used by the test suite to keep the benchmark runnable).
Each ``cases_*.py`` module contributes ``cases(quick: bool) -> list[Case]``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _harness import run_all

CASE_MODULES = ["cases_label", "cases_scores", "cases_small", "cases_small_scores"]


def main(argv: list[str]) -> None:
    quick = "--quick" in argv
    for module_name in CASE_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            print(f"\n## {module_name}: not written yet")
            continue
        run_all(
            module.__doc__.strip().splitlines()[0] if module.__doc__ else module_name,
            module.cases(quick),
        )


if __name__ == "__main__":
    main(sys.argv[1:])
