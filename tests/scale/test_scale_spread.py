"""read_table places each part on a worker so that every worker of the cluster, however
many, holds about the same number of rows."""

from __future__ import annotations

from polyclass.scale._table import spread_rows


def test_parts_are_spread_evenly_over_every_worker() -> None:
    import distributed

    with (
        distributed.LocalCluster(
            n_workers=7, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        client.wait_for_workers(7, timeout=60)
        rows = (500, 400, 300, 300, 200, 200, 100, 100, 100, 100, 50, 50, 50, 50)
        chosen = spread_rows(client, rows)
        load = dict.fromkeys(client.nthreads(), 0)
        for worker, n in zip(chosen, rows, strict=True):
            load[worker] += n
    assert len(set(chosen)) == 7  # not the five scheduler_info() lists by default
    assert max(load.values()) - min(load.values()) <= max(rows)
