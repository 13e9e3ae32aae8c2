"""The fast loading path (integer ids, Parquet or polars) gives exactly the general path's result."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import consensus.io.fast as fast
from consensus import DawidSkene
from consensus.errors import InputError
from consensus.io.judgments import read_judgments


def general(monkeypatch, source, **kwargs):
    """read_judgments with the fast path switched off."""
    with monkeypatch.context() as m:
        m.setattr(fast, "read_judgments_fast", lambda *a, **k: None)
        return read_judgments(source, **kwargs)


def assert_same(a, b):
    for name in ("item", "worker", "label", "input_row"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.item_ids.dtype == b.item_ids.dtype and a.item_ids.to_list() == b.item_ids.to_list()
    assert a.worker_ids.dtype == b.worker_ids.dtype and a.worker_ids.to_list() == b.worker_ids.to_list()
    assert a.classes == b.classes
    assert a.n_input_rows == b.n_input_rows and a.source == b.source
    assert (a.duration is None) == (b.duration is None)
    if a.duration is not None:
        np.testing.assert_array_equal(a.duration, b.duration)
    assert a.quarantine.schema == b.quarantine.schema
    assert a.quarantine.to_dicts() == b.quarantine.to_dicts()
    assert a.accounting_line() == b.accounting_line()
    assert a.n_judgments + a.n_quarantined == a.n_input_rows


def make_frame(rng, n, *, n_items=30, n_workers=8, nulls=True, label_kind="str", duration=True,
               id_dtype=pl.Int64):
    item = rng.integers(0, n_items, n) * 7 + 3  # sparse-ish, non-zero based ids
    worker = rng.integers(0, n_workers, n) + 100
    pool = ["a", "b", "c", "n/a", "", " b ", "zz", None] if label_kind == "str" else [0, 1, 2, None]
    label = [pool[k] for k in rng.integers(0, len(pool), n)]
    frame = {"item": pl.Series(item).cast(id_dtype), "worker": pl.Series(worker).cast(id_dtype),
             "label": pl.Series(label, dtype=pl.String if label_kind == "str" else pl.Int64)}
    if duration:
        d = rng.lognormal(1.0, 1.0, n)
        d[rng.random(n) < 0.05] = -1.0
        d[rng.random(n) < 0.03] = np.nan
        frame["seconds"] = pl.Series(d)
    df = pl.DataFrame(frame)
    if nulls:
        df = df.with_columns(
            pl.when(pl.Series(rng.random(n) < 0.03)).then(None).otherwise(pl.col("item")).alias("item"),
            pl.when(pl.Series(rng.random(n) < 0.03)).then(None).otherwise(pl.col("worker")).alias("worker"),
        )
        if duration:
            df = df.with_columns(pl.when(pl.Series(rng.random(n) < 0.03)).then(None)
                                 .otherwise(pl.col("seconds")).alias("seconds"))
    return df


@pytest.mark.parametrize("duplicates", ["first", "last"])
@pytest.mark.parametrize("label_kind", ["str", "int"])
def test_fast_frame_equals_general(monkeypatch, duplicates, label_kind):
    rng = np.random.default_rng(3)
    df = make_frame(rng, 600, label_kind=label_kind)
    kwargs = dict(duplicates=duplicates, duration_col="seconds")
    fast_j = read_judgments(df, **kwargs)
    assert fast_j.n_quarantined > 0 and fast_j.quarantine.get_column("reason").str.contains("duplicate").any()
    assert_same(fast_j, general(monkeypatch, df, **kwargs))


def test_fast_path_is_taken(monkeypatch):
    df = make_frame(np.random.default_rng(0), 50)
    calls = []
    original = fast.read_judgments_fast

    def spy(*a, **k):
        out = original(*a, **k)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(fast, "read_judgments_fast", spy)
    read_judgments(df, duration_col="seconds")
    read_judgments(df.with_columns(pl.col("item").cast(pl.String)), duration_col="seconds")
    assert calls == [True, False]  # string ids go the general way


def test_fast_parquet_files_equal_general(monkeypatch, tmp_path):
    rng = np.random.default_rng(5)
    paths = []
    for k in range(3):
        df = make_frame(rng, 400, id_dtype=pl.Int32)
        paths.append(tmp_path / f"part{k}.parquet")
        df.write_parquet(paths[-1], row_group_size=64)  # several row groups: dictionaries to unify
    glob = str(tmp_path / "part*.parquet")
    for kwargs in ({}, {"classes": ["a", "b"]}, {"na_labels": ["n/a"]}, {"duplicates": "last"}):
        kwargs = dict(kwargs, duration_col="seconds")
        assert_same(read_judgments(glob, **kwargs), general(monkeypatch, glob, **kwargs))


def test_fast_duplicates_error_names_rows(tmp_path):
    df = pl.DataFrame({"item": [1, 2, 1], "worker": [5, 5, 5], "label": ["x", "y", "z"]})
    with pytest.raises(InputError, match="duplicate"):
        read_judgments(df, duplicates="error")


def test_fast_dawid_skene_same_posteriors(monkeypatch, tmp_path):
    rng = np.random.default_rng(11)
    df = make_frame(rng, 3000, n_items=400, n_workers=25, nulls=False, duration=False)
    path = tmp_path / "d.parquet"
    df.write_parquet(path)
    a = DawidSkene(max_iter=15, tol=0).fit(read_judgments(path))
    b = DawidSkene(max_iter=15, tol=0).fit(general(monkeypatch, path))
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.probas_, b.probas_, rtol=0, atol=1e-12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 120), n_items=st.integers(1, 12),
       n_workers=st.integers(1, 6), label_kind=st.sampled_from(["str", "int"]),
       duplicates=st.sampled_from(["first", "last"]), declare=st.booleans())
def test_fast_equals_general_property(monkeypatch, seed, n, n_items, n_workers, label_kind, duplicates, declare):
    df = make_frame(np.random.default_rng(seed), n, n_items=n_items, n_workers=n_workers, label_kind=label_kind)
    kwargs = dict(duplicates=duplicates, duration_col="seconds")
    if declare:
        kwargs["classes"] = ["a", "b"] if label_kind == "str" else ["0", "1"]
    try:
        expected = general(monkeypatch, df, **kwargs)
    except InputError as exc:
        with pytest.raises(InputError) as got:
            read_judgments(df, **kwargs)
        assert str(got.value) == str(exc)
        return
    assert_same(read_judgments(df, **kwargs), expected)
