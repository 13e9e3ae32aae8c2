"""The Dask engine equals the in-memory fit (multi-partition data, process and thread clusters)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

pytest.importorskip("distributed", reason="Dask tests need the 'dask' extra: pip install 'consensus[dask]'")

from consensus import MACE, DawidSkene, OneCoinDawidSkene  # noqa: E402
from consensus.backends import DaskBackend, LocalBackend, worker_statistics  # noqa: E402
from consensus.fraud import FraudConfig  # noqa: E402
from consensus.fraud._base import Context  # noqa: E402
from consensus.io.judgments import read_judgments  # noqa: E402

TOL = 1e-9


def _crowd(seed: int = 0, n: int = 2500) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, 300)
    item = rng.integers(0, 300, n)
    worker = rng.integers(0, 30, n)
    skill = rng.uniform(0.3, 0.95, 30)
    right = rng.random(n) < skill[worker]
    label = np.where(right, truth[item], rng.integers(0, 3, n))
    frame = pl.DataFrame({"item": [f"i{x:03d}" for x in item], "worker": [f"w{x}" for x in worker],
                          "label": [["cat", "dog", "owl"][x] for x in label],
                          "seconds": rng.uniform(0.5, 20, n)})
    # a few rows to quarantine: a missing worker, and duplicates of (item, worker)
    return frame.with_columns(pl.when(pl.int_range(n) == 7).then(None).otherwise(pl.col("worker")).alias("worker"))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The crowd in 4 Parquet files: rows in input order (so items span files)."""
    folder = tmp_path_factory.mktemp("deliveries")
    frame = _crowd()
    for k in range(4):
        frame[k * 625:(k + 1) * 625].write_parquet(folder / f"part{k}.parquet")
    return frame, str(folder / "*.parquet")


@pytest.fixture(scope="module", params=["processes", "threads"])
def backend(request):
    processes = request.param == "processes"
    be = DaskBackend(n_workers=2, threads_per_worker=1, processes=processes, n_partitions=3)
    yield be
    be.close()


def _same_fit(a, b):
    assert a.n_iter_ == b.n_iter_
    np.testing.assert_allclose(b.log_likelihood_history_, a.log_likelihood_history_, rtol=TOL, atol=0)
    np.testing.assert_allclose(b.probas_, a.probas_, atol=TOL)
    np.testing.assert_allclose(b.raw_probas_, a.raw_probas_, atol=TOL)
    np.testing.assert_allclose(b.confusion_, a.confusion_, atol=TOL)
    np.testing.assert_allclose(b.priors_, a.priors_, atol=TOL)
    np.testing.assert_allclose(b.worker_accuracy_, a.worker_accuracy_, atol=TOL)
    np.testing.assert_array_equal(b.labels_, a.labels_)
    assert b.temperature_ == pytest.approx(a.temperature_, rel=1e-12)
    assert b.judgments_.item_ids.to_list() == a.judgments_.item_ids.to_list()
    assert b.judgments_.worker_ids.to_list() == a.judgments_.worker_ids.to_list()


@pytest.mark.parametrize("model", [DawidSkene, OneCoinDawidSkene, MACE])
def test_dask_equals_local(backend, files, model):
    frame, glob = files
    local = model().fit(frame)
    data = backend.load(glob)
    assert data.repartitioned  # items span the files: one-time repartition by item
    assert data.n_partitions == 3
    dask = model().fit(data, engine=backend)
    _same_fit(local, dask)
    # row accounting: every input row used or quarantined with a reason
    assert data.n_input_rows == data.n_judgments + data.n_quarantined == frame.height
    def reasons(q):  # the kept row is named by file here and by frame row there
        return sorted(q["reason"].str.replace(r"; kept .*", "").to_list())

    assert reasons(data.quarantine) == reasons(local.judgments_.quarantine)
    table = dask.item_table()
    assert table.columns == local.item_table().columns
    data.release()


def test_polars_frame_and_item_partitioned_files(backend, files, tmp_path):
    frame, _ = files
    local = DawidSkene(calibration="none").fit(frame)
    _same_fit(local, DawidSkene(calibration="none").fit(frame, engine=backend))
    # files that are already partitioned by item are used as they are
    by_item = frame.with_columns(pl.col("item").str.slice(1).cast(pl.Int64).alias("k"))
    for k in range(3):
        by_item.filter(pl.col("k") % 3 == k).drop("k").write_parquet(tmp_path / f"p{k}.parquet")
    data = backend.load(str(tmp_path / "*.parquet"))
    assert not data.repartitioned and data.n_partitions == 3
    _same_fit(local, DawidSkene(calibration="none").fit(data, engine=backend))
    data.release()


def test_fraud_statistics_equal_local(backend, files):
    frame, glob = files
    config = FraudConfig(min_seconds=2.0)
    judgments = read_judgments(frame, duration_col="seconds")
    observed, expected, n_compared, n_agree, chance = Context(judgments, config).agreement
    data = backend.load(glob, duration_col="seconds")
    stats = worker_statistics(data, config=config)
    assert stats["worker"].to_list() == judgments.worker_ids.to_list()
    np.testing.assert_array_equal(stats["n_compared"].to_numpy(), n_compared)
    np.testing.assert_array_equal(stats["n_agree"].to_numpy(), n_agree)
    np.testing.assert_allclose(stats["chance_agreement"].to_numpy().astype(float), chance, atol=TOL)
    classes = judgments.classes
    np.testing.assert_array_equal(stats.select([f"observed_{c}" for c in classes]).to_numpy(), observed)
    np.testing.assert_allclose(stats.select([f"expected_{c}" for c in classes]).to_numpy(), expected, atol=TOL)
    fast = np.isfinite(judgments.duration) & (judgments.duration < 2.0)
    np.testing.assert_array_equal(stats["n_fast"].to_numpy(), np.bincount(judgments.worker[fast],
                                                                          minlength=judgments.n_workers))
    np.testing.assert_array_equal(stats["n_judgments"].to_numpy(), judgments.n_judgments_per_worker)
    data.release()


def test_local_backend_and_dask_frame(files):
    dd = pytest.importorskip("dask.dataframe", reason="needs dask.dataframe (pandas)")
    frame, _ = files
    local = DawidSkene().fit(frame)
    _same_fit(local, DawidSkene().fit(frame, engine=LocalBackend(n_partitions=5)))
    ddf = dd.from_pandas(frame.to_pandas(), npartitions=3)
    _same_fit(local, DawidSkene().fit(ddf, engine=LocalBackend(n_partitions=2)))


def test_bad_input_and_parameters(backend, tmp_path):
    from consensus.errors import InputError, ParameterError

    with pytest.raises(InputError, match="no file matches"):
        backend.load(str(tmp_path / "missing-*.parquet"))
    frame = _crowd(n=200)
    with pytest.raises(ParameterError, match="engine"):
        DawidSkene().fit(frame, engine="spark")
    from consensus.models import GLAD

    with pytest.raises(ParameterError, match="GLAD cannot run on a partitioned engine"):
        GLAD().fit(frame, engine=backend)
    dup = pl.concat([frame.head(3), frame.head(1)])
    with pytest.raises(InputError, match="duplicate"):
        backend.load(dup, duplicates="error")


def test_gold_column_in_the_input_is_an_error_not_ignored(backend, tmp_path):
    """A detected gold column would change the labels (clamped items) if used: never silently dropped."""
    from consensus.errors import InputError

    frame = _crowd(n=300).with_columns(pl.lit("cat").alias("gold"))
    path = tmp_path / "with_gold.parquet"
    frame.write_parquet(path)
    with pytest.raises(InputError, match="gold answers, which the partitioned engine does not use") as info:
        backend.load(str(path))
    assert info.value.source == str(path) and info.value.column == "gold"
    with pytest.raises(InputError, match="column 'gold' holds gold answers"):
        backend.load(frame)


def test_partitioned_fit_explains_what_it_cannot_do(backend):
    from consensus.errors import ParameterError

    frame = _crowd(n=400)
    model = DawidSkene(calibration="loo").fit(frame, engine=backend)
    with pytest.raises(ParameterError, match=r"worker_table\(\) needs a model fitted in memory"):
        model.worker_table()
    assert model.confusion_table().height == model.confusion_.size  # this one works partitioned
    with pytest.raises(ParameterError, match="engine='dask'") as info:
        DawidSkene(calibration="item").fit(frame, engine=backend)
    assert "object at 0x" not in str(info.value)


def test_numba_cache_is_used_in_worker_processes(backend):
    if not backend._cluster or not backend._cluster.processes:
        pytest.skip("only meaningful with worker processes")
    from consensus.kernels import partitioned as kp

    def run(_):
        rng = np.random.default_rng(0)
        post = rng.dirichlet(np.ones(3), 10)
        offsets = np.array([0, 5, 10], dtype=np.int64)
        items = np.arange(10, dtype=np.int32)
        labels = np.zeros(10, dtype=np.int32)
        kp.worker_answer_stats(offsets, items, labels, post)
        stats = kp.worker_answer_stats.stats
        return stats.cache_hits, stats.cache_misses

    run(None)  # compiled (and cached on disk) here, at the latest
    # a worker process started after that has compiled nothing: its first call must load the
    # disk cache (the cluster's first workers may have compiled the kernel themselves earlier)
    client, cluster = backend.client, backend._cluster
    before = set(client.scheduler_info()["workers"])
    cluster.scale(len(before) + 1)
    client.wait_for_workers(len(before) + 1, timeout=60)
    fresh = sorted(set(client.scheduler_info()["workers"]) - before)[0]
    try:
        hits, misses = client.submit(run, None, workers=[fresh], pure=False).result(timeout=120)
    finally:
        cluster.scale(len(before))
    assert sum(hits.values()) >= 1 and sum(misses.values()) == 0, (hits, misses)


def test_cli_engine_dask(backend, files, tmp_path, capsys):
    from consensus.cli import main

    frame, glob = files
    address = backend.client.scheduler.address
    out = tmp_path / "items.csv"
    code = main(["aggregate", glob, "--method", "ds", "--engine", "dask", "--scheduler", address,
                 "-o", str(out), "--confusion-out", str(tmp_path / "confusion.csv")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "repartitioned 4 pieces into" in err
    assert f"input rows {frame.height} = used " in err
    local = tmp_path / "local.csv"
    assert main(["aggregate", glob, "--method", "ds", "-o", str(local)]) == 0
    a, b = pl.read_csv(local), pl.read_csv(out)
    assert a["item"].to_list() == b["item"].to_list() and a["label"].to_list() == b["label"].to_list()
    np.testing.assert_allclose(b["confidence"].to_numpy(), a["confidence"].to_numpy(), atol=1e-9)
    assert main(["aggregate", glob, "--method", "glad", "--engine", "dask", "--scheduler", address]) == 2
    assert "--engine dask runs --method ds, onecoin, mace" in capsys.readouterr().err
    # options the engine cannot honour, and addresses that are not addresses: one line, before any work
    from cli_helpers import assert_clean_error, run

    code, _, err = run(capsys, "aggregate", glob, "--method", "ds", "--engine", "dask", "--scheduler", address,
                       "--calibration", "item")
    assert_clean_error(code, err, "aggregate", "--calibration loo or none", alone=False)
    assert "engine:" not in err  # refused before the cluster loads anything
    for bad in ("localhost", "http://x:1"):
        code, _, err = run(capsys, "aggregate", glob, "--method", "ds", "--engine", "dask", "--scheduler", bad)
        assert_clean_error(code, err, "aggregate", "cannot reach the Dask scheduler", repr(bad), alone=False)


def _exact_same_fit(a, b):
    """The same tasks and the same fixed reduction tree: bit-identical, on any backend or cluster."""
    assert a.n_iter_ == b.n_iter_
    assert a.log_likelihood_history_ == b.log_likelihood_history_
    for name in ("raw_probas_", "probas_", "confusion_", "priors_", "worker_accuracy_", "labels_"):
        np.testing.assert_array_equal(getattr(b, name), getattr(a, name), err_msg=name)


@pytest.mark.parametrize("model", [DawidSkene, MACE])
def test_dask_equals_local_backend_exactly(backend, files, model):
    _, glob = files
    on_dask = backend.load(glob)
    local = LocalBackend(n_partitions=3)
    on_local = local.load(glob)
    assert [w.tolist() for w in on_dask.workers] == [w.tolist() for w in on_local.workers]
    _exact_same_fit(model().fit(on_local, engine=local), model().fit(on_dask, engine=backend))
    on_dask.release()


def _disjoint_crowd(n_parts: int = 6, seed: int = 3):
    """Items split in ``n_parts`` ranges, each with its own team of workers (a few shared)."""
    rng = np.random.default_rng(seed)
    items_per, n = 40, 2400
    item = rng.integers(0, items_per * n_parts, n)
    team = item // items_per
    worker = np.where(rng.random(n) < 0.9, team * 5 + rng.integers(0, 5, n), 5 * n_parts + rng.integers(0, 2, n))
    truth = rng.integers(0, 3, items_per * n_parts)
    label = np.where(rng.random(n) < 0.75, truth[item], rng.integers(-1, 3, n))
    pairs = np.unique(np.stack([item, worker]), axis=1, return_index=True)[1]
    return item[pairs], worker[pairs], label[pairs]


@pytest.mark.parametrize("model", [DawidSkene, OneCoinDawidSkene, MACE])
def test_sparse_worker_sets(backend, model):
    """Partitions with their own workers: parameter rows sliced per partition, sums merged by worker code
    over a two-level tree (6 partitions -> 2 groups -> 1)."""
    from consensus.backends import from_codes
    from consensus.data import Judgments

    item, worker, label = _disjoint_crowd()
    data = from_codes(backend, item, worker, label, n_classes=3, n_partitions=6)
    assert data.n_partitions == 6
    assert sum(w.size for w in data.workers) < 2 * data.n_workers  # sliced rows move less than two copies
    memory = model().fit(Judgments.from_codes(item, worker, label, n_classes=3))
    dask = model().fit(data, engine=backend)
    _same_fit(memory, dask)
    local = LocalBackend()
    _exact_same_fit(model().fit(from_codes(local, item, worker, label, n_classes=3, n_partitions=6), engine=local),
                    dask)
    data.release()


def test_combine_sums_adds_rows_by_worker_code():
    from consensus.backends.tasks import combine_sums

    rng = np.random.default_rng(0)
    results = []
    for codes in ([0, 2, 5], [2, 3], [0, 2, 5], [7]):
        codes = np.array(codes, dtype=np.int32)
        results.append({"workers": codes, "rows": rng.random((codes.size, 2, 2)),
                        "n": rng.integers(0, 9, codes.size), "loglik": float(rng.random())})
    total = combine_sums(results, ("rows", "n"))
    np.testing.assert_array_equal(total["workers"], [0, 2, 3, 5, 7])
    for w in (0, 2, 3, 5, 7):
        rows = [r["rows"][list(r["workers"]).index(w)] for r in results if w in r["workers"]]
        np.testing.assert_allclose(total["rows"][list(total["workers"]).index(w)], np.sum(rows, axis=0), rtol=1e-15)
        n = sum(int(r["n"][list(r["workers"]).index(w)]) for r in results if w in r["workers"])
        assert total["n"][list(total["workers"]).index(w)] == n
    assert total["loglik"] == pytest.approx(sum(r["loglik"] for r in results), rel=1e-15)
    same = combine_sums(results[:1] + results[2:3], ("rows", "n"))  # same workers: rows added in place
    np.testing.assert_array_equal(same["rows"], results[0]["rows"] + results[2]["rows"])


def test_integer_parquet_files_take_the_fast_reader(backend, tmp_path):
    """Files partitioned by item with integer ids: each file is read once more where it stays, by
    read_judgments' O(n) path; same fit, same row accounting and quarantine as in memory."""
    rng = np.random.default_rng(5)
    n = 3000
    item = rng.integers(0, 400, n)
    worker = rng.integers(0, 25, n)
    label = rng.integers(0, 3, n).astype(str).astype(object)
    label[::97] = "n/a"
    frame = pl.DataFrame({"item": item, "worker": worker, "label": label.tolist(),
                          "seconds": rng.uniform(1, 9, n)})
    frame = pl.concat([frame, frame[10:13]])  # duplicated (item, worker) pairs: quarantined, first kept
    frame = frame.with_columns(pl.when(pl.int_range(pl.len()) == 5).then(None).otherwise(pl.col("worker"))
                               .alias("worker"))
    for k in range(4):
        frame.filter(pl.col("item") % 4 == k).write_parquet(tmp_path / f"f{k}.parquet")
    glob = str(tmp_path / "*.parquet")
    memory = read_judgments(glob, duration_col="seconds")
    data = backend.load(glob, duration_col="seconds")
    assert not data.repartitioned and data.n_partitions == 4
    assert data.n_input_rows == memory.n_input_rows and data.n_quarantined == memory.n_quarantined > 0
    key = ["source", "row"]
    assert data.quarantine.sort(key).equals(memory.quarantine.sort(key))
    _same_fit(DawidSkene().fit(memory), DawidSkene().fit(data, engine=backend))
    config = FraudConfig(min_seconds=3.0)
    stats = worker_statistics(data, config=config)
    _, _, n_compared, n_agree, _ = Context(memory, config).agreement
    np.testing.assert_array_equal(stats["n_compared"].to_numpy(), n_compared)
    np.testing.assert_array_equal(stats["n_agree"].to_numpy(), n_agree)
    data.release()


# -- box agreement partitioned by image ----------------------------------------------------------------
def _box_rows(seed: int = 11, n_images: int = 60) -> pl.DataFrame:
    """Annotators boxing 1-3 objects per image with noise, misses, false boxes, empty annotations and a few
    rows to quarantine (a missing annotator, a missing class label, a duplicate box)."""
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(n_images):
        objects = [(rng.uniform(0, 300), rng.uniform(0, 300), rng.uniform(20, 120), rng.uniform(20, 120),
                    ["car", "person"][int(rng.integers(0, 2))]) for _ in range(int(rng.integers(1, 4)))]
        for w in range(int(rng.integers(2, 6))):
            drew = False
            for x, y, bw, bh, cls in objects:
                if rng.random() < 0.85:
                    d = rng.normal(0, 6 + 4 * w, 4)
                    rows.append((f"img{g}", f"w{w}", x + d[0], y + d[1], x + bw + d[2], y + bh + d[3], cls))
                    drew = True
            if rng.random() < 0.15:
                x, y = rng.uniform(0, 300, 2)
                rows.append((f"img{g}", f"w{w}", x, y, x + 30, y + 30, "car"))
                drew = True
            if not drew:
                rows.append((f"img{g}", f"w{w}", None, None, None, None, None))
    rows += [("img3", None, 1.0, 1.0, 5.0, 5.0, "car"), ("img4", "w1", 1.0, 1.0, 5.0, 5.0, None)]
    rows.append(rows[0])
    frame = pl.DataFrame(rows, schema=["image", "annotator", "x0", "y0", "x1", "y1", "label"], orient="row")
    return frame.sample(fraction=1.0, shuffle=True, seed=seed)  # rows of an image spread over the files


@pytest.fixture(scope="module")
def box_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("boxes")
    frame = _box_rows()
    size = -(-frame.height // 3)
    for k in range(3):
        frame[k * size:(k + 1) * size].write_parquet(folder / f"boxes{k}.parquet")
    by_image = tmp_path_factory.mktemp("boxes_by_image")
    key = pl.col("image").str.slice(3).cast(pl.Int64) % 4
    for k in range(4):
        frame.filter(key == k).write_parquet(by_image / f"part{k}.parquet")
    return frame, str(folder / "*.parquet"), str(by_image / "*.parquet")


def _same_agreement(memory, got):
    want = memory.images
    assert got.images["image"].to_list() == want["image"].to_list()
    for column in ("n_annotators", "n_boxes"):
        np.testing.assert_array_equal(got.images[column].to_numpy(), want[column].to_numpy(), err_msg=column)
    for column in ("mean_iou", "f1"):
        np.testing.assert_allclose(got.images[column].to_numpy(), want[column].to_numpy(), atol=TOL, rtol=0,
                                   equal_nan=True, err_msg=column)
    assert np.isfinite(got.images["f1"].to_numpy()).sum() > 40  # real numbers compared, not only NaN
    assert got.accounting_line() == memory.data.accounting_line()


def test_box_agreement_equals_fit_boxes(backend, box_files):
    from consensus.backends import box_agreement
    from consensus.boxes import fit_boxes, read_boxes

    frame, glob, by_image = box_files
    memory = fit_boxes(glob)
    assert memory.data.n_quarantined == 3 and memory.data.n_empty > 0
    logged = []
    regrouped = box_agreement(glob, engine=backend, n_partitions=4, log=logged.append)
    assert regrouped.repartitioned and regrouped.n_partitions == 4 and "regrouped" in logged[0]
    _same_agreement(memory, regrouped)
    key = ["source", "row"]
    assert regrouped.quarantine.sort(key).equals(memory.data.quarantine.sort(key))
    whole = box_agreement(by_image, engine=backend)  # files that hold whole images: one partition each
    assert not whole.repartitioned and whole.n_partitions == 4
    _same_agreement(fit_boxes(by_image), whole)
    _same_agreement(fit_boxes(frame), box_agreement(frame, engine=backend, n_partitions=3))
    boxset = read_boxes(glob)
    from_set = box_agreement(boxset, engine=backend, n_partitions=5)
    assert from_set.n_partitions == 5
    _same_agreement(memory, from_set)
    # the local backend runs the same tasks: the same numbers, bit for bit
    local = box_agreement(glob, engine="local", n_partitions=4)
    for column in ("mean_iou", "f1"):
        np.testing.assert_array_equal(local.images[column].to_numpy(), regrouped.images[column].to_numpy())


def test_box_agreement_with_seen_table_and_options(backend, box_files, tmp_path):
    from consensus.backends import box_agreement
    from consensus.boxes import fit_boxes

    frame, glob, _ = box_files
    seen = frame.select("image", pl.col("annotator").alias("worker")).drop_nulls().unique()
    seen = pl.concat([seen, pl.DataFrame({"image": ["img0", "img_only_seen", "img_only_seen"],
                                          "worker": ["w9", "w1", "w2"]})])
    memory = fit_boxes(glob, seen=seen, iou_threshold=0.3, class_aware=False)
    got = box_agreement(glob, engine=backend, seen=seen, iou_threshold=0.3, class_aware=False, n_partitions=3)
    _same_agreement(memory, got)
    assert got.images.filter(pl.col("image") == "img_only_seen")["f1"].to_list() == [1.0]
    from consensus.errors import InputError, ParameterError

    with pytest.raises(ParameterError, match="unknown option"):
        box_agreement(glob, engine=backend, iou=0.5)
    with pytest.raises(ParameterError, match="iou_threshold"):
        box_agreement(glob, engine=backend, iou_threshold=0)
    with pytest.raises(InputError, match="image id"):
        box_agreement(frame.rename({"image": "picture"}), engine=backend)


# -- loading through partitions agrees with read_judgments (second reader's findings) --------------------------

def _write(path, text):
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("n_partitions", [1, 3, 7])
def test_partitioned_quarantine_is_in_input_order_whatever_the_partitions(tmp_path, n_partitions):
    path = _write(tmp_path / "t.csv", "item,worker,label\na,w1,x\na,w2,y\nb,w1,x\nb,w1,y\nc,w2,n/a\ne,,x\n,w1,x\n")
    want = read_judgments(path).quarantine
    got = LocalBackend(n_partitions).load(path).quarantine
    assert got.select("source", "row", "reason").rows() == want.select("source", "row", "reason").rows()


def test_partitioned_duplicate_error_counts_the_whole_input(tmp_path):
    from consensus.errors import InputError

    one = _write(tmp_path / "m1.csv", "item,worker,label\na,w1,x\na,w2,y\nb,w1,x\n")
    two = _write(tmp_path / "m2.csv", "item,worker,label\nb,w1,y\nc,w2,x\na,w1,y\n")
    with pytest.raises(InputError) as local:
        read_judgments([one, two], duplicates="error")
    for n in (1, 3):
        with pytest.raises(InputError) as parts:
            LocalBackend(n).load([one, two], duplicates="error")
        assert str(parts.value) == str(local.value)
    assert "2 duplicate (item, worker) judgments" in str(local.value)


def test_partitioned_files_with_differently_typed_ids_are_coded_together(tmp_path):
    pl.DataFrame({"item": [1, 1, 2, 2], "worker": [10, 11, 10, 11], "label": list("xyxy")}).write_parquet(
        tmp_path / "a.parquet")
    pl.DataFrame({"item": pl.Series([5, 5, 6], dtype=pl.Int32), "worker": pl.Series([10, 13, 13], dtype=pl.Int32),
                  "label": list("yyx")}).write_parquet(tmp_path / "b.parquet")
    paths = [str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")]
    got, want = LocalBackend(2).load(paths), read_judgments(paths)
    assert got.item_ids.to_list() == want.item_ids.to_list() and got.worker_ids.to_list() == want.worker_ids.to_list()


def test_partitioned_files_with_other_column_names_are_refused(tmp_path):
    from consensus.errors import InputError

    one = _write(tmp_path / "m1.csv", "item,worker,label\na,w1,x\na,w2,y\n")
    odd = _write(tmp_path / "c3.csv", "item,annotator,answer\na,w3,x\nb,w4,y\n")
    with pytest.raises(InputError, match="c3.csv: the files do not name their columns alike"):
        LocalBackend(2).load([one, odd])


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_partition_count_is_checked(tmp_path, bad):
    from consensus.errors import ParameterError

    path = _write(tmp_path / "t.csv", "item,worker,label\na,w1,x\na,w2,y\n")
    with pytest.raises(ParameterError, match="n_partitions"):
        LocalBackend(2).load(path, n_partitions=bad)


def test_cli_engine_dask_refuses_an_empty_class_name(capsys):
    from consensus.cli import main

    assert main(["aggregate", "x.csv", "--method", "ds", "--engine", "dask", "--classes", "0,,1", "-o", "o.csv"]) == 2
    assert "empty class name" in capsys.readouterr().err


def test_partitioned_files_with_rows_without_an_item_are_quarantined_not_shared(tmp_path):
    """A missing item id in two files counted as an item 'shared' by them (IndexError in _shared_item)."""
    one = _write(tmp_path / "f1.csv", "item,worker,label\na,w1,x\n,w2,y\n")
    two = _write(tmp_path / "f2.csv", "item,worker,label\nb,w1,x\n,w3,y\n")
    got, want = LocalBackend(1).load([one, two]), read_judgments([one, two])
    assert got.quarantine.select("source", "row", "reason").rows() == want.quarantine.select("source", "row", "reason").rows()
