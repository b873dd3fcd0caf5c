"""Spark MLlib's multinomial logistic regression on a Parquet folder, for bench_scale.py.

Runs in the benchmark's own environment (.bench/venv: pyspark, Java 17). Usage:
``python _scale_spark.py DATA N_ROWS C REPEAT``; prints one JSON line: start-up seconds,
the fit time (Parquet read included) of each run, the coefficients and the iterations.
"""

from __future__ import annotations

import json
import sys
import time

from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import VectorAssembler
from pyspark.sql import SparkSession


def main() -> None:
    data, n_rows, C, repeat = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    t0 = time.perf_counter()
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.driver.memory", "6g")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "16")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    startup = time.perf_counter() - t0
    times = []
    model = None
    for _ in range(repeat):
        t = time.perf_counter()
        df = spark.read.parquet(data)
        features = [c for c in df.columns if c != "label"]
        rows = VectorAssembler(inputCols=features, outputCol="features").transform(df)
        lr = LogisticRegression(
            family="multinomial",
            regParam=1.0 / (C * n_rows),
            elasticNetParam=0.0,
            standardization=False,
            maxIter=100,
        )
        model = lr.fit(rows.select("features", "label"))
        times.append(time.perf_counter() - t)
    assert model is not None
    print(
        json.dumps(
            {
                "startup": startup,
                "times": times,
                "coef": model.coefficientMatrix.toArray().tolist(),
                "intercept": model.interceptVector.toArray().tolist(),
                "iterations": model.summary.totalIterations,
            }
        )
    )
    spark.stop()


if __name__ == "__main__":
    main()
