"""``consensus aggregate``: one label per item, and annotator reliability."""

from __future__ import annotations

import argparse

from consensus.commands.common import (add_input_options, check_outputs, check_stdout, log, parse_classes,
                                       quarantine_path, read_from_args, report_accounting)
from consensus.methods import METHODS



#: --max-overturn's default (Auto's own).
MAX_OVERTURN = 0.02

#: The EM options with their defaults, and which methods take them (others would ignore them in silence).
EM_OPTIONS = {"max_iter": 100, "tol": 1e-7, "alpha": 0.01, "beta": 1.0, "prior_accuracy": 0.8, "prior_strength": 4.0}
TAKES = {"ds": set(EM_OPTIONS), "onecoin": {"max_iter", "tol", "beta", "prior_strength"},
         "glad": {"max_iter", "tol", "beta"}, "mace": {"max_iter", "tol", "beta", "prior_strength"}}


def _check_model_options(args: argparse.Namespace) -> None:
    """Refuse an EM option the chosen method does not use; fill in the defaults of the others."""
    from consensus.errors import ParameterError

    if getattr(args, "em_options_checked", False):
        return
    args.em_options_checked = True
    given = [name for name in EM_OPTIONS if getattr(args, name, None) is not None]
    unused = [name for name in given if name not in TAKES.get(args.method, set())]
    if unused:
        flags = ", ".join("--" + name.replace("_", "-") for name in unused)
        users = [m for m in TAKES if set(unused) <= TAKES[m]]
        hint = "auto fits its candidates with their defaults; " if args.method == "auto" else ""
        raise ParameterError(f"{flags}: --method {args.method} does not use {'it' if len(unused) == 1 else 'them'} "
                             f"({hint}methods that do: {', '.join(users) or 'none'})")
    if getattr(args, "max_overturn", None) is not None and args.method != "auto":
        raise ParameterError(f"--max-overturn: --method {args.method} does not use it (only --method auto)")
    if getattr(args, "calibration", None) is not None and args.method in ("mv", "wawa"):
        raise ParameterError(f"--calibration: --method {args.method} does not use it (its confidences are vote "
                             "shares; the EM methods and auto are calibrated)")
    for name, default in EM_OPTIONS.items():
        if getattr(args, name, None) is None:
            setattr(args, name, default)
    if getattr(args, "max_overturn", None) is None:
        args.max_overturn = MAX_OVERTURN


def build_model(args: argparse.Namespace):  # noqa: ANN201 - an Aggregator
    """The estimator that ``--method`` and the model options name."""
    from consensus import models

    _check_model_options(args)
    common = {"tie_break": args.tie_break, "random_state": args.seed}
    if args.calibration is None:  # the per-item modes run in memory only
        args.calibration = "loo" if getattr(args, "engine", "local") == "dask" else "item"
    if args.method == "auto":
        return models.Auto(max_overturn=args.max_overturn, calibration=args.calibration, **common)
    if args.method == "mv":
        return models.MajorityVote(**common)
    if args.method == "wawa":
        return models.Wawa(**common)
    em = {"max_iter": args.max_iter, "tol": args.tol, "beta": args.beta,
          "calibration": args.calibration, **common}
    if args.method == "ds":
        return models.DawidSkene(alpha=args.alpha, prior_accuracy=args.prior_accuracy,
                                 prior_strength=args.prior_strength, **em)
    if args.method == "onecoin":
        return models.OneCoinDawidSkene(prior_strength=args.prior_strength, **em)
    if args.method == "glad":
        return models.GLAD(**em)
    return models.MACE(prior_strength=args.prior_strength, **em)


def run(args: argparse.Namespace) -> int:
    _check_model_options(args)  # before reading: a bad option writes nothing
    check = getattr(build_model(args), "_check_params", None)
    if check is not None:  # the estimator's own range checks (--seed -1, --max-overturn 1.5), also before reading
        check()
    check_stdout(("-o", args.output or "-"), ("--workers-out", args.workers_out),
                 ("--confusion-out", args.confusion_out))
    check_outputs(args.output, args.workers_out, args.confusion_out, quarantine_path(args, args.output), args=args)
    if args.engine == "dask":
        return run_partitioned(args)
    if args.scheduler is not None:
        from consensus.errors import ParameterError

        raise ParameterError("--scheduler needs --engine dask")
    judgments = read_from_args(args)
    exclusion = None
    if args.exclude_flagged:  # before the accounting: the left-out judgments are quarantined with a reason
        from consensus.fraud import FraudConfig, exclude_flagged

        judgments, exclusion = exclude_flagged(judgments, build_model(args), config=FraudConfig(seed=args.seed),
                                               log=log)
    report_accounting(judgments, args, args.output)
    model = build_model(args)
    model.fit(judgments)
    return report_fit(args, model, judgments, exclusion)


def report_fit(args: argparse.Namespace, model, judgments, exclusion) -> int:  # noqa: ANN001
    """Log the fit and write the tables (in-memory and partitioned fits alike)."""
    from consensus.io.writers import write_table

    fitted = model.model_ if args.method == "auto" else model
    if args.method == "auto":
        scores = ", ".join(f"{name} {value:.4f}" for name, value in model.heldout_loglik_.items())
        skipped = f"; skipped {', '.join(model.skipped_candidates_)} (size)" if model.skipped_candidates_ else ""
        log(f"auto: chose {model.chosen_method_} (held-out log-likelihood per answer: {scores}{skipped}; "
            f"{model.likelihood_choice_} overturns {model.overturn_rate_:.2%} of {model.n_strong_items_} "
            f"strong-majority items, limit {args.max_overturn:.2%})")
    is_em = hasattr(fitted, "n_iter_")
    if is_em:
        state = "converged" if fitted.converged_ else "stopped at --max-iter"
        log(f"{fitted._name}: {state} after {fitted.n_iter_} iterations, penalised log-likelihood "
            f"{fitted.log_likelihood_history_[-1]:.4f}, calibration temperature {fitted.temperature_:.3f}")
    items = model.item_table()
    n_na = int((items["status"] == "mostly_na").sum())
    n_none = int((items["status"] == "no_judgments").sum())
    n_tied = int((model.n_tied_ > 1).sum())
    mean_confidence = items["confidence"].mean()  # None when every item is mostly n/a
    none = f"{n_none} without any judgment left, " if n_none else ""
    log(f"items: {items.height} ({items.height - n_na - n_none} labelled, {n_na} mostly n/a, {none}"
         f"{n_tied} ties broken by --tie-break {args.tie_break}); mean confidence "
         + ("n/a" if mean_confidence is None else f"{mean_confidence:.4f}"))
    if exclusion is not None:
        for line in exclusion.summary_lines(model.labels_):
            log(line)
    if judgments.gold is not None:
        log(f"gold: {int((judgments.gold >= 0).sum())} items"
             + (" clamped to their gold label during EM" if is_em else
                " (voting methods do not use gold)"))
    write_table(items, args.output)
    if args.output and args.output != "-":
        log(f"wrote {args.output} ({items.height} items)")
    if args.workers_out:
        workers = model.worker_table()
        write_table(workers, args.workers_out)
        log(f"wrote {args.workers_out} ({workers.height} workers)")
    if args.confusion_out:
        write_table(model.confusion_table(), args.confusion_out)
        log(f"wrote {args.confusion_out} (confusion matrices, long form)")
    return 0


#: Methods the partitioned engines run (EM models whose M-step is per-worker sums).
PARTITIONED_METHODS = ("ds", "onecoin", "mace")


def run_partitioned(args: argparse.Namespace) -> int:
    """``--engine dask``: load the input as partitions by item on a Dask cluster and fit there."""
    from consensus.backends.dask import DaskBackend
    from consensus.errors import ParameterError

    unsupported = [flag for flag, given in (("--gold", args.gold), ("--gold-col", args.gold_col),
                                            ("--exclude-flagged", args.exclude_flagged),
                                            ("--workers-out", args.workers_out),
                                            ("--keep-rejected", getattr(args, "keep_rejected", False))) if given]
    if args.method not in PARTITIONED_METHODS:
        raise ParameterError(f"--engine dask runs --method {', '.join(PARTITIONED_METHODS)}; got --method "
                             f"{args.method}")
    if unsupported:
        raise ParameterError(f"--engine dask does not support {', '.join(unsupported)} yet; use --engine local")
    if args.calibration in ("item", "item_gold"):
        raise ParameterError(f"--engine dask fits one gold-free temperature: --calibration loo or none (got "
                             f"--calibration {args.calibration}); use --engine local for the per-item temperature")
    classes = parse_classes(args)
    na_labels = () if args.no_na else (args.na_label if args.na_label is not None else None)
    options = {} if na_labels is None else {"na_labels": na_labels}
    backend = DaskBackend(scheduler=args.scheduler)
    try:
        log(f"engine: {backend.describe()}")
        source = args.input[0] if len(args.input) == 1 else list(args.input)
        data = backend.load(source, item_col=args.item_col, worker_col=args.worker_col, label_col=args.label_col,
                            duration_col=args.duration_col, start_col=args.start_col, submit_col=args.submit_col,
                            classes=classes, duplicates=args.duplicates, log=log, **options)
        report_accounting(data, args, args.output)
        model = build_model(args)
        model.fit(data, engine=backend)
        return report_fit(args, model, data, None)
    finally:
        backend.close()


def register(sub: argparse._SubParsersAction) -> None:
    agg = sub.add_parser(
        "aggregate", help="best label per item with confidence, and annotator reliability",
        description="Aggregate judgments into one label per item (auto, majority vote, Wawa, Dawid-Skene, one-coin, GLAD or MACE) "
        "with the probability of every class, and estimate each annotator's reliability.")
    add_input_options(agg)
    model = agg.add_argument_group("model")
    model.add_argument("--method", choices=METHODS, default="auto",
                       help="auto = the latent-class model (ds, onecoin, mace) that best "
                       "predicts held-out answers, wawa if it overturns strong majorities (default); mv = majority vote, wawa = agreement-weighted vote, ds = Dawid-Skene, onecoin = one-coin Dawid-Skene, glad = GLAD, mace = MACE")
    model.add_argument("--max-iter", type=int, default=None, help="EM iterations at most (default 100)")
    model.add_argument("--tol", type=float, default=None,
                       help="stop when the relative log-likelihood gain is below this (default 1e-7)")
    model.add_argument("--alpha", type=float, default=None,
                       help="Dirichlet pseudo-count per confusion cell (default 0.01)")
    model.add_argument("--beta", type=float, default=None, help="Dirichlet pseudo-count per class prior (default 1)")
    model.add_argument("--prior-accuracy", type=float, default=None,
                       help="mean diagonal of the default prior confusion matrix (default 0.8)")
    model.add_argument("--prior-strength", type=float, default=None,
                       help="pseudo-judgments per true class of that prior; 0 = maximum likelihood (default 4)")
    model.add_argument("--calibration", choices=("item", "item_gold", "loo", "gold", "none"), default=None,
                       help="how EM confidences are tempered: item = per-item temperature T0*(1+rho*(n-1)), "
                       "gold-free (default; loo with --engine dask); item_gold = the same fitted on the gold items; loo = one gold-free "
                       "temperature; gold = one temperature fitted on the gold items; none")
    model.add_argument("--max-overturn", type=float, default=None,
                       help="auto: largest share of strong majorities the likelihood choice may overturn before "
                       "auto falls back to wawa (default 0.02)")
    model.add_argument("--tie-break", choices=("random", "first"), default="random",
                       help="how exact ties are broken (default random, seeded)")
    model.add_argument("--seed", type=int, default=0, help="seed of the tie-break (default 0)")
    out = agg.add_argument_group("output (format from the extension: .csv .tsv .parquet .json .jsonl)")
    out.add_argument("-o", "--output", help="item table (default: CSV on stdout)")
    out.add_argument("--workers-out", metavar="FILE", help="worker table with accuracy and confusion columns")
    out.add_argument("--confusion-out", metavar="FILE", help="confusion matrices in long form")
    engine = agg.add_argument_group("engine")
    engine.add_argument("--engine", choices=("local", "dask"), default="local",
                        help="local = in memory (default); dask = partitions by item on a Dask cluster "
                        "(--method ds, onecoin or mace; pip install 'consensus[dask]')")
    engine.add_argument("--scheduler", metavar="ADDR",
                        help="Dask scheduler address, e.g. tcp://host:8786 (default: start a local cluster)")
    agg.add_argument("--exclude-flagged", action="store_true",
                     help="run `consensus fraud` (default settings) first, leave the flagged annotators out, "
                     "and report how many item labels changed")
    agg.set_defaults(handler=run)
