"""polyclass.artifact and the registry against plain pickle, side by side in one run.

Usage: ``python benchmarks/bench_artifact.py [--quick]``. Ours verifies sha256 and fsyncs
(durable, tamper-evident, no code execution on load); the pickle baseline does neither,
so a ratio below 1 is the price of those guarantees, not a regression.
"""

from __future__ import annotations

import hashlib
import pickle
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))

from _harness import Case, run_all
from polyclass.artifact import fingerprint_table, read_artifact, save_artifact
from polyclass.registry import Registry


def main(argv: list[str]) -> None:
    quick = "--quick" in argv
    rng = np.random.default_rng(0)
    cols = 500 if quick else 6250
    arrays = {"coef": rng.normal(size=(1000, cols)), "intercept": rng.normal(size=1000)}
    nbytes = sum(a.nbytes for a in arrays.values())
    tmp = Path(tempfile.mkdtemp(prefix="bench-artifact-"))
    try:
        target = tmp / "model"
        pickled = tmp / "model.pkl"

        def ours_save() -> None:
            save_artifact(target, {"classes": ["a", "b"]}, arrays, overwrite=True)

        def pickle_save() -> None:
            with open(pickled, "wb") as handle:
                pickle.dump(arrays, handle, protocol=pickle.HIGHEST_PROTOCOL)

        ours_save()
        pickle_save()

        def pickle_load() -> object:
            with open(pickled, "rb") as handle:
                return pickle.load(handle)

        rows = 100_000 if quick else 1_000_000
        frame = pd.DataFrame(rng.normal(size=(rows, 10)), columns=[f"x{i}" for i in range(10)])
        frame["label"] = rng.choice(np.array(["Adelie", "Chinstrap", "Gentoo"]), size=rows)
        frame_bytes = int(frame.memory_usage(deep=True).sum())

        def pandas_hash() -> str:
            values = pd.util.hash_pandas_object(frame, index=False).to_numpy()
            return hashlib.sha256(values.tobytes()).hexdigest()

        small = save_artifact(tmp / "small", {}, {"w": np.ones((3, 8))})
        registry = Registry(str(tmp / "registry"))

        def register() -> None:
            registry.register("bench", small)

        run_all(
            f"artifact ({nbytes / 1e6:.0f} MB of arrays) and registry vs pickle",
            [
                Case("save_artifact (fsync + sha256) vs pickle.dump", ours_save, pickle_save,
                     nbytes),
                Case("read_artifact (verify + load) vs pickle.load", lambda: read_artifact(target),
                     pickle_load, nbytes),
                Case(f"fingerprint_table {rows}x11 vs hash_pandas_object",
                     lambda: fingerprint_table(frame), pandas_hash, frame_bytes),
                Case("Registry.register (small artifact)", register, None, small.stat().st_size),
            ],
        )  # fmt: skip
        registry.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
