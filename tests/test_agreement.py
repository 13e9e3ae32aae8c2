"""Agreement metrics: kernels against plain-Python twins, alpha against the ``krippendorff``
package, textbook values, invariances, the Python API and ``consensus agreement``."""

from __future__ import annotations

import json
import os
import math
from pathlib import Path

import krippendorff
import numba
import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from naive import item_csr, judgment_sets, readonly
from naive_agreement import (
    cohen_kappa,
    naive_coincidence_matrix,
    naive_cohen_pairs,
    naive_emit_pairs,
    naive_fleiss_kappa,
    naive_item_agreement,
    naive_nominal_alpha,
    naive_pair_counts,
    naive_reduce_pairs,
    reliability_matrix,
)

import consensus
from consensus.agreement_metrics import AgreementReport, pair_table_codes
from consensus.cli import main
from consensus.data import Judgments
from consensus.errors import InputError, ParameterError
from consensus.kernels import agreement as kernels
from naive_models import with_threads as _with_threads

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOL = 1e-9
SAMPLE = Path(__file__).resolve().parents[1] / "datasets" / "weather_sentiment_amt" / "judgments.csv"


def assert_close(actual, expected, tol=TOL):
    """Element-wise equal within ``tol``, NaN where the other is NaN."""
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float),
                               rtol=0, atol=tol, equal_nan=True)


def csr(data):
    """Read-only item CSR of a ``judgment_sets`` draw: offsets, worker, label."""
    return readonly(*item_csr(data["item"], data["worker"], data["label"], data["n_items"]))


def from_rows(rows, n_classes=None):
    """Judgments from ``[(item, worker, label), ...]`` codes."""
    item, worker, label = (np.array(col, dtype=np.int32) for col in zip(*rows))
    return Judgments.from_codes(item, worker, label, n_classes=n_classes)


def from_count_table(table):
    """Judgments with ``table[i][k]`` answers of class ``k`` on item ``i`` (workers 0, 1, ... per item)."""
    rows = []
    for i, counts in enumerate(table):
        w = 0
        for k, c in enumerate(counts):
            for _ in range(c):
                rows.append((i, w, k))
                w += 1
    return from_rows(rows, n_classes=len(table[0]))


# ---------------------------------------------------------------------------------------
# kernels against their plain-Python twins
# ---------------------------------------------------------------------------------------
@SETTINGS
@given(data=judgment_sets(gold=False, duplicates=True))
def test_item_agreement_matches_naive(data):
    offsets, _, label = csr(data)
    n_labels, agree, entropy = kernels.item_agreement(offsets, label, data["K"])
    expected = naive_item_agreement(offsets, label, data["K"])
    np.testing.assert_array_equal(n_labels, expected[0])
    assert_close(agree, expected[1])
    assert_close(entropy, expected[2])
    assert np.all((agree[n_labels >= 2] >= 0) & (agree[n_labels >= 2] <= 1 + TOL))
    assert np.all(entropy[n_labels >= 1] <= math.log(max(data["K"], 1)) + TOL)


@SETTINGS
@given(data=judgment_sets(gold=False, duplicates=True))
def test_coincidence_and_alpha_match_naive(data):
    offsets, _, label = csr(data)
    o = kernels.coincidence_matrix(offsets, label, data["K"])
    expected = naive_coincidence_matrix(offsets, label, data["K"])
    assert_close(o, expected)
    np.testing.assert_allclose(o, o.T, atol=TOL)
    n_labels = naive_item_agreement(offsets, label, data["K"])[0]
    assert o.sum() == pytest.approx(n_labels[n_labels >= 2].sum(), abs=TOL)
    assert_close(kernels.nominal_alpha(o), naive_nominal_alpha(expected))


@SETTINGS
@given(data=judgment_sets(gold=False, duplicates=True))
def test_fleiss_kappa_matches_naive(data):
    offsets, _, label = csr(data)
    assert_close(kernels.fleiss_kappa(offsets, label, data["K"]),
                 naive_fleiss_kappa(offsets, label, data["K"]))


@SETTINGS
@given(data=judgment_sets(gold=False, duplicates=True))
def test_pair_kernels_match_naive(data):
    offsets, worker, label = csr(data)
    per_item = kernels.pair_counts(offsets, worker, label)
    np.testing.assert_array_equal(per_item, naive_pair_counts(offsets, worker, label))
    (pair_offsets,) = readonly(np.concatenate(([0], np.cumsum(per_item))).astype(np.int64))
    emitted = kernels.emit_pairs(offsets, worker, label, pair_offsets, data["n_workers"])
    expected = naive_emit_pairs(offsets, worker, label, pair_offsets, data["n_workers"])
    for got, want in zip(emitted, expected):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    key, label_a, label_b = expected
    order = np.argsort(key, kind="stable")
    key = key[order]
    boundaries = np.flatnonzero(np.diff(key)) + 1
    (group_offsets, label_a, label_b) = readonly(
        np.concatenate(([0], boundaries, [key.size])).astype(np.int64) if key.size else np.zeros(1, np.int64),
        label_a[order], label_b[order])
    got = kernels.reduce_pairs(group_offsets, label_a, label_b, data["K"])
    want = naive_reduce_pairs(group_offsets, label_a, label_b, data["K"])
    np.testing.assert_array_equal(got[0], want[0])
    assert_close(got[1], want[1])
    assert_close(got[2], want[2])


@SETTINGS
@given(data=judgment_sets(gold=False, duplicates=False), min_overlap=st.integers(1, 4))
def test_pair_table_matches_all_pairs_reference(data, min_overlap):
    judgments = Judgments.from_codes(data["item"], data["worker"], data["label"], n_classes=data["K"])
    a, b, n, observed, kappa = pair_table_codes(judgments, min_overlap)
    expected = naive_cohen_pairs(data["item"], data["worker"], data["label"], data["K"], min_overlap)
    assert list(zip(a.tolist(), b.tolist())) == sorted(expected)
    for row, pair in enumerate(sorted(expected)):
        n_expected, p_o, k = expected[pair]
        assert n[row] == n_expected
        assert_close([observed[row], kappa[row]], [p_o, k])


# ---------------------------------------------------------------------------------------
# Krippendorff's alpha against the krippendorff package
# ---------------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the package's 0/0
@SETTINGS
@given(data=judgment_sets(gold=False, duplicates=False, min_classes=2))
def test_alpha_matches_krippendorff_package(data):
    judgments = Judgments.from_codes(data["item"], data["worker"], data["label"], n_classes=data["K"])
    alpha = consensus.agreement(judgments, min_overlap=1).summary["krippendorff_alpha"]
    matrix = reliability_matrix(data["item"], data["worker"], data["label"], data["n_items"],
                                data["n_workers"])
    if ((~np.isnan(matrix)).sum(axis=0) < 2).all():  # no pairable unit: the package refuses
        assert alpha is None
        return
    assume(np.unique(matrix[~np.isnan(matrix)]).size >= 2)  # the package rejects one-value domains
    reference = krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
    if math.isnan(reference):  # every pairable value in one class: undefined for both
        assert alpha is None
    else:
        assert alpha == pytest.approx(reference, abs=TOL)


def test_alpha_matches_krippendorff_package_on_real_data():
    judgments = consensus.read_judgments(SAMPLE)
    report = consensus.agreement(judgments)
    matrix = reliability_matrix(judgments.item, judgments.worker, judgments.label,
                                judgments.n_items, judgments.n_workers)
    reference = krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
    assert 0.3 < reference < 0.8
    assert report.summary["krippendorff_alpha"] == pytest.approx(reference, abs=TOL)


# ---------------------------------------------------------------------------------------
# textbook values
# ---------------------------------------------------------------------------------------
def test_perfect_agreement():
    rows = [(i, w, i % 3) for i in range(9) for w in range(4)]
    report = consensus.agreement(from_rows(rows), min_overlap=2)
    s = report.summary
    assert s["krippendorff_alpha"] == 1.0
    assert s["fleiss_kappa"] == 1.0
    assert s["mean_item_agreement"] == 1.0
    assert s["mean_cohen_kappa"] == 1.0
    assert report.items["agreement"].to_list() == [1.0] * 9
    assert report.items["entropy"].to_list() == [0.0] * 9
    assert report.pairs.height == 6 and report.pairs["kappa"].to_list() == [1.0] * 6


def test_systematic_disagreement_gives_negative_alpha():
    # two coders who always disagree on a binary scale: o = [[0, 2], [2, 0]], n = 4,
    # D_o = 1, D_e = (16 - 8) / 12, alpha = 1 - 12/8 = -0.5
    report = consensus.agreement(from_rows([(0, 0, 0), (0, 1, 1), (1, 0, 1), (1, 1, 0)]), min_overlap=1)
    assert report.summary["krippendorff_alpha"] == pytest.approx(-0.5, abs=1e-12)
    np.testing.assert_allclose(report.coincidence, [[0, 2], [2, 0]])
    assert report.summary["mean_item_agreement"] == 0.0
    assert report.pairs["kappa"].to_list() == [pytest.approx(-1.0)]


def test_krippendorff_2011_worked_example():
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", nominal data with
    # missing values: 4 observers, 12 units, alpha = 0.743. Unit 12 has one value only.
    table = ["1 2 3 3 2 1 4 1 2 . . .", "1 2 3 3 2 2 4 1 2 5 . 3",
             ". 3 3 3 2 3 4 2 2 5 1 .", "1 2 3 3 2 4 4 1 2 5 1 ."]
    rows = [(u, w, int(v) - 1) for w, line in enumerate(table) for u, v in enumerate(line.split()) if v != "."]
    report = consensus.agreement(from_rows(rows), min_overlap=1)
    assert round(report.summary["krippendorff_alpha"], 3) == 0.743
    assert report.summary["n_items_used"] == 11
    assert report.summary["n_pairable_answers"] == 40


def test_fleiss_1971_worked_example():
    # The Fleiss' kappa example on Wikipedia: 10 subjects, 14 raters each, 5 categories;
    # P-bar = 0.378, P-e-bar = 0.213, kappa = 0.210.
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
             [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    judgments = from_count_table(table)
    kappa, p_a, p_e = kernels.fleiss_kappa(judgments.item_offsets, judgments.label, 5)
    assert round(p_a, 3) == 0.378
    assert round(p_e, 3) == 0.213
    assert round(kappa, 3) == 0.210
    assert consensus.agreement(judgments).summary["fleiss_kappa"] == kappa


def test_fleiss_generalisation_weights_items_equally():
    # item 0: 2 answers (agree), item 1: 4 answers (2 vs 2), item 2: 1 answer (shares only).
    # p_a = (1 + 4/12) / 2 = 2/3; pi = ((1 + 1/2 + 0) / 3, (0 + 1/2 + 1) / 3) = (1/2, 1/2);
    # p_e = 1/2; kappa = (2/3 - 1/2) / (1/2) = 1/3.
    judgments = from_count_table([[2, 0], [2, 2], [0, 1]])
    kappa, p_a, p_e = kernels.fleiss_kappa(judgments.item_offsets, judgments.label, 2)
    assert (p_a, p_e) == (pytest.approx(2 / 3), pytest.approx(0.5))
    assert kappa == pytest.approx(1 / 3)


def test_cohen_kappa_textbook_example():
    # Cohen's kappa on Wikipedia: 50 proposals, yes/yes 20, yes/no 5, no/yes 10, no/no 15:
    # p_o = 0.7, p_e = 0.5, kappa = 0.4.
    cells = [(0, 0)] * 20 + [(0, 1)] * 5 + [(1, 0)] * 10 + [(1, 1)] * 15
    rows = [(i, 0, a) for i, (a, _) in enumerate(cells)] + [(i, 1, b) for i, (_, b) in enumerate(cells)]
    pairs = consensus.agreement(from_rows(rows)).pairs
    assert pairs.height == 1
    assert pairs.row(0) == (0, 1, 50, pytest.approx(0.7), pytest.approx(0.4))
    assert cohen_kappa([a for a, _ in cells], [b for _, b in cells], 2) == (
        pytest.approx(0.7), pytest.approx(0.4))


def test_item_agreement_and_entropy_known_values():
    rows = [(0, 0, 0), (0, 1, 0), (0, 2, 1), (0, 3, 1),   # 2 vs 2: agreement 1/3, entropy ln 2
            (1, 0, 2), (1, 1, -1),                        # one answer: no agreement, entropy 0
            (2, 0, -1)]                                   # only an abstention
    items = consensus.agreement(from_rows(rows, n_classes=3)).items
    assert items["n_labels"].to_list() == [4, 1, 0]
    assert items["n_na"].to_list() == [0, 1, 1]
    assert items["agreement"].to_list() == [pytest.approx(1 / 3), None, None]
    assert items["entropy"].to_list() == [pytest.approx(math.log(2)), 0.0, None]


def test_items_without_two_answers_do_not_change_alpha():
    rows = [(i, w, (i + (w == 2)) % 3) for i in range(6) for w in range(3)]
    base = consensus.agreement(from_rows(rows)).summary
    extra = consensus.agreement(from_rows(rows + [(6, 0, 1), (7, 1, 2), (7, 2, -1)])).summary
    assert extra["krippendorff_alpha"] == base["krippendorff_alpha"]
    assert extra["mean_item_agreement"] == base["mean_item_agreement"]
    assert (extra["n_items_used"], extra["n_items"]) == (6, 8)
    assert extra["fleiss_kappa"] != base["fleiss_kappa"]  # single answers do enter the shares


def test_undefined_figures_are_none():
    only_na = consensus.agreement(from_rows([(0, 0, -1), (0, 1, -1), (1, 0, -1)], n_classes=2))
    for key in ("krippendorff_alpha", "fleiss_kappa", "mean_item_agreement", "mean_cohen_kappa"):
        assert only_na.summary[key] is None, key
    assert only_na.summary["n_items_used"] == 0 and only_na.pairs.height == 0
    one_class = consensus.agreement(from_rows([(0, 0, 1), (0, 1, 1), (1, 0, 1), (1, 1, 1)], n_classes=2),
                                    min_overlap=1)
    assert one_class.summary["krippendorff_alpha"] is None
    assert one_class.summary["fleiss_kappa"] is None
    assert one_class.summary["mean_item_agreement"] == 1.0
    assert one_class.pairs["kappa"].to_list() == [None]
    assert one_class.pairs["agreement"].to_list() == [1.0]


# ---------------------------------------------------------------------------------------
# invariances
# ---------------------------------------------------------------------------------------
def _frame(item, worker, label, item_name, worker_name, classes):
    return pl.DataFrame({
        "item": [item_name[int(i)] for i in item],
        "worker": [worker_name[int(w)] for w in worker],
        "label": ["n/a" if l < 0 else classes[int(l)] for l in label],
    })


def _pair_set(pairs):
    return {frozenset((a, b)): (n, ag, k) for a, b, n, ag, k in pairs.iter_rows()}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=judgment_sets(gold=False, duplicates=False, min_classes=2), seed=st.integers(0, 2**32 - 1))
def test_results_do_not_depend_on_ids_or_row_order(data, seed):
    assume((data["label"] >= 0).any())  # all-abstention deliveries are refused by the loader
    rng = np.random.default_rng(seed)
    classes = ["cat", "dog", "eel", "fox", "gnu"]
    items = [f"i{k:03d}" for k in range(data["n_items"])]
    workers = [f"w{k:03d}" for k in range(data["n_workers"])]
    first = _frame(data["item"], data["worker"], data["label"], items, workers, classes)
    renamed_items = [items[k] for k in rng.permutation(data["n_items"])]
    renamed_workers = [workers[k] for k in rng.permutation(data["n_workers"])]
    second = _frame(data["item"], data["worker"], data["label"], renamed_items, renamed_workers, classes)
    second = second.select(pl.all().gather(rng.permutation(second.height)))
    a = consensus.agreement(first, min_overlap=1)
    b = consensus.agreement(second, min_overlap=1)
    for key, value in a.summary.items():
        assert b.summary[key] == (value if value is None or isinstance(value, int)
                                  else pytest.approx(value, abs=1e-12)), key
    # item i in the first frame is renamed_items[i] in the second
    rename = dict(zip(items, renamed_items))
    left = a.items.with_columns(pl.col("item").replace_strict(rename)).sort("item")
    right = b.items.filter(pl.col("item").is_in(list(rename.values()))).sort("item")
    assert left.drop("agreement", "entropy").equals(right.drop("agreement", "entropy"))
    assert_close(left["agreement"].to_numpy(), right["agreement"].to_numpy(), 1e-12)
    assert_close(left["entropy"].to_numpy(), right["entropy"].to_numpy(), 1e-12)
    worker_rename = dict(zip(workers, renamed_workers))
    expected = {frozenset(worker_rename[w] for w in pair): v for pair, v in _pair_set(a.pairs).items()}
    assert expected == _pair_set(b.pairs)




@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 numba threads")
def test_results_identical_for_one_and_two_threads():
    rng = np.random.default_rng(11)
    n_items, n_workers, K = 4000, 40, 4
    item = np.repeat(np.arange(n_items), 6)
    worker = np.concatenate([rng.choice(n_workers, 6, replace=False) for _ in range(n_items)])
    truth = rng.integers(0, K, n_items)[item]
    label = np.where(rng.random(item.size) < 0.7, truth, rng.integers(-1, K, item.size))
    judgments = Judgments.from_codes(item, worker, label, n_classes=K)
    one = _with_threads(1, consensus.agreement, judgments)
    two = _with_threads(2, consensus.agreement, judgments)
    assert one.summary == two.summary
    assert one.items.equals(two.items)
    assert one.pairs.equals(two.pairs)
    np.testing.assert_array_equal(one.coincidence, two.coincidence)
    assert one.pairs.height > 100  # the pair path is exercised
    assert kernels.block_size(n_items) * 2 <= n_items  # and so is more than one block


# ---------------------------------------------------------------------------------------
# Python API
# ---------------------------------------------------------------------------------------
def test_api_reports_original_ids_and_documented_columns():
    frame = pl.DataFrame({
        "item": ["007", "007", "007", "7", "7", "010", "010"],
        "worker": ["0042", "042", "42", "0042", "042", "0042", "42"],
        "label": ["cat", "cat", "dog", "dog", "dog", "n/a", "cat"],
    })
    report = consensus.agreement(frame, min_overlap=1)
    assert isinstance(report, AgreementReport)
    assert report.items.columns == ["item", "n_labels", "n_na", "agreement", "entropy"]
    assert sorted(report.items["item"].to_list()) == ["007", "010", "7"]
    assert report.pairs.columns == ["worker_a", "worker_b", "n_items", "agreement", "kappa"]
    assert set(report.pairs["worker_a"].to_list()) | set(report.pairs["worker_b"].to_list()) <= {
        "0042", "042", "42"}
    row = report.pairs.filter((pl.col("worker_a") == "0042") & (pl.col("worker_b") == "042")).row(0)
    assert row[2:4] == (2, 1.0)
    assert report.classes == ["cat", "dog"]
    assert set(report.summary) >= {"krippendorff_alpha", "fleiss_kappa", "mean_item_agreement",
                                   "n_items_used"}
    assert report.summary["n_items_used"] == 2
    mean = report.items["agreement"].mean()
    assert report.summary["mean_item_agreement"] == pytest.approx(mean, abs=1e-12)


def test_min_overlap_filters_pairs():
    rows = [(i, w, (i * w) % 2) for i in range(12) for w in range(3) if not (w == 2 and i >= 5)]
    judgments = from_rows(rows)
    assert consensus.agreement(judgments).pairs.select("worker_a", "worker_b").rows() == [(0, 1)]
    assert consensus.agreement(judgments, min_overlap=5).pairs.height == 3
    assert consensus.agreement(judgments, min_overlap=13).pairs.height == 0


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_min_overlap_is_validated(bad):
    with pytest.raises(ParameterError, match="'min_overlap' parameter of agreement must be an int"):
        consensus.agreement(from_rows([(0, 0, 0), (0, 1, 0)]), min_overlap=bad)


def test_repeated_answers_of_one_annotator_are_refused():
    with pytest.raises(InputError, match="repeated class answers.*item 0, annotator 1"):
        consensus.agreement(from_rows([(0, 0, 0), (0, 1, 0), (0, 1, 1)]))
    # an abstention next to a class answer is not a repeat
    consensus.agreement(from_rows([(0, 0, 0), (0, 1, 0), (0, 1, -1)]))


def test_agreement_reads_paths_and_stays_callable_after_module_import():
    import consensus.agreement_metrics as module

    assert callable(consensus.agreement)
    report = consensus.agreement(str(SAMPLE), min_overlap=50)
    assert report.summary == module.agreement(str(SAMPLE), min_overlap=50).summary
    assert report.summary["n_items"] == 300


# ---------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------
CSV = ("item,worker,label\n"
       "007,0042,cat\n007,042,cat\n007,42,dog\n"
       "010,0042,dog\n010,042,dog\n010,42,n/a\n"
       "7,0042,cat\n7,042,bird\n7,42,cat\n7,42,dog\n")


@pytest.fixture
def delivery(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "judgments.csv"
    path.write_text(CSV, encoding="utf-8")
    return path


def test_cli_writes_tables_and_summary(delivery, tmp_path, capsys):
    code = main(["agreement", str(delivery), "-o", "out/items.csv", "--pairs-out", "out/pairs.parquet",
                 "--json", "out/summary.json", "--min-overlap", "2"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "krippendorff_alpha" in out and "fleiss_kappa" in out and "mean_item_agreement" in out
    assert "input rows 10 = used 9 + quarantined 1" in err
    assert (tmp_path / "out" / "items.quarantine.csv").exists()
    items = pl.read_csv(tmp_path / "out" / "items.csv", infer_schema=False)
    assert items.columns == ["item", "n_labels", "n_na", "agreement", "entropy"]
    assert items["item"].to_list() == ["007", "010", "7"]
    pairs = pl.read_parquet(tmp_path / "out" / "pairs.parquet")
    assert pairs.height == 3 and set(pairs["n_items"].to_list()) == {2, 3}
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    expected = consensus.agreement(consensus.read_judgments(delivery), min_overlap=2).summary
    assert {k: summary[k] for k in expected} == expected
    assert summary["min_overlap"] == 2
    assert f"krippendorff_alpha   {expected['krippendorff_alpha']:.4f}" in out


def test_cli_table_on_stdout_moves_summary_to_stderr(delivery, capsys):
    code = main(["agreement", str(delivery), "-o", "-", "--quarantine-out", "q.csv"])
    out, err = capsys.readouterr()
    assert code == 0
    assert out.splitlines()[0] == "item,n_labels,n_na,agreement,entropy"
    assert "krippendorff_alpha" in err and "krippendorff_alpha" not in out


@pytest.mark.parametrize(("argv", "message"), [
    (["--min-overlap", "0"], "--min-overlap must be at least 1"),
    (["--json", "summary.txt"], "give a file name ending in .json"),
    (["-o", "items.xlsx"], "unknown output extension '.xlsx'"),
    (["-o", "-", "--json", "-"], "only one output can go to stdout"),
])
def test_cli_bad_options_exit_2_with_one_line(delivery, capsys, argv, message):
    code = main(["agreement", str(delivery), *argv])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.strip().splitlines() == [err.strip().splitlines()[-1]]
    assert err.startswith("consensus agreement: error: ") and message in err


def test_output_identical_whether_kernels_are_compiled_or_loaded_from_cache(tmp_path):
    """The first run after an install (kernels compiled) and the next (loaded from the disk cache)
    write the same bytes. With fastmath flags they did not: 11 of 300 entropies on this file differed
    in the last bit, where an item has four different answers (LLVM vectorised that sum in one build)."""
    import subprocess
    import sys
    from pathlib import Path

    data = Path(__file__).resolve().parents[1] / "datasets" / "weather_sentiment_amt" / "judgments.csv"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache"), "CONSENSUS_NUMBA_CACHE": "1"}
    outputs = []
    for run in ("compiled", "cached"):
        out = tmp_path / f"{run}.csv"
        subprocess.run([sys.executable, "-m", "consensus.cli", "agreement", str(data), "-o", str(out)],
                       env=env, check=True, capture_output=True)
        outputs.append(out.read_bytes())
    assert any((tmp_path / "numba-cache").rglob("*.nbi")), "the second run did not load from a cache"
    assert outputs[0] == outputs[1]
