"""Find the item, worker, label (and optional) columns of a delivery.

A user can name every column; whatever is not named is looked up among the
names common platforms export: plain names (``item``, ``worker``, ``label``),
Amazon Mechanical Turk batch results (``HITId``, ``WorkerId``, ``Answer.*``,
``WorkTimeInSeconds``, ``AcceptTime``/``SubmitTime``), Toloka result TSVs
(``INPUT:*``, ``OUTPUT:*``, ``GOLDEN:*``, ``ASSIGNMENT:worker_id``,
``ASSIGNMENT:started``/``ASSIGNMENT:submitted``) and Appen/Figure Eight
(``_unit_id``, ``_worker_id``, ``_started_at``, ``_created_at``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from consensus.errors import InputError

ROLES = ("item", "worker", "label", "duration", "started", "submitted", "gold")

_NAMES: dict[str, tuple[str, ...]] = {
    "item": ("item", "item_id", "task", "task_id", "question", "question_id", "example_id",
             "image", "image_id", "hitid", "_unit_id", "unit_id", "object", "object_id"),
    "worker": ("worker", "worker_id", "annotator", "annotator_id", "labeler", "labeler_id",
               "rater", "rater_id", "performer", "user", "user_id", "workerid",
               "assignment:worker_id", "_worker_id"),
    "label": ("label", "answer", "response", "class", "category", "judgment", "judgement",
              "annotation", "value"),
    "duration": ("duration", "duration_s", "duration_seconds", "seconds", "time_spent",
                 "time_spent_s", "time_spent_seconds", "worktimeinseconds", "work_time",
                 "elapsed", "elapsed_s", "time_s"),
    "started": ("started", "started_at", "start", "start_time", "accepttime",
                "assignment:started", "_started_at"),
    "submitted": ("submitted", "submitted_at", "submit", "submit_time", "submittime",
                  "assignment:submitted", "_created_at", "timestamp", "created_at"),
    "gold": ("gold", "gold_label", "true_label", "truth", "golden"),
}
_PREFIXES: dict[str, tuple[str, ...]] = {
    "item": ("INPUT:",),
    "label": ("OUTPUT:", "Answer."),
    "gold": ("GOLDEN:",),
}
_FLAGS = {"item": "--item-col", "worker": "--worker-col", "label": "--label-col",
          "duration": "--duration-col", "started": "--start-col",
          "submitted": "--submit-col", "gold": "--gold-col"}
#: The read_judgments argument of each role (the CLI's flags above; both are named in errors).
_PYTHON = {"item": "item_col=", "worker": "worker_col=", "label": "label_col=", "duration": "duration_col=",
           "started": "start_col=", "submitted": "submit_col=", "gold": "gold_col="}


#: MTurk's batch download says per assignment whether the requester approved or rejected it.
MTURK_STATUS_COL = "AssignmentStatus"


@dataclass(frozen=True)
class ColumnMap:
    """Which input column plays which role; ``None`` means "detect" (or absent).

    ``label`` may name a group of one-hot boolean columns by their common
    prefix (MTurk radio buttons export ``Answer.q.cat``/``Answer.q.dog`` as
    true/false columns; ``label="Answer.q"`` reads them as one label).
    """

    item: str | None = None
    worker: str | None = None
    label: str | None = None
    duration: str | None = None
    started: str | None = None
    submitted: str | None = None
    gold: str | None = None

    def resolved(self, columns: list[str], source: str) -> ColumnMap:
        """Fill in undetected roles from ``columns``; raise when a required one is missing."""
        columns = [c for c in columns if c not in ("__source", "__row")]
        found: dict[str, str | None] = {}
        for role in ROLES:
            given = getattr(self, role)
            if given is not None:
                if given not in columns and not (role == "label" and _one_hot_group(columns, given)):
                    raise InputError(
                        f"column {given!r} given for the {role} ({_FLAGS[role]}, {_PYTHON[role]}) is not in the "
                        f"file; its columns are {_show(columns)}",
                        source=source,
                    )
                found[role] = given
            else:
                found[role] = _detect(role, columns, source)
        for role in ("item", "worker", "label"):
            if found[role] is None:
                raise InputError(
                    f"no {role} column found among {_show(columns)}; "
                    f"name it with {_FLAGS[role]} (or {_PYTHON[role]} in Python)",
                    source=source,
                )
        return replace(self, **found)

    def as_dict(self) -> dict[str, str | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _detect(role: str, columns: list[str], source: str) -> str | None:
    lowered = {c.lower(): c for c in columns}
    for name in _NAMES.get(role, ()):
        if name in lowered:
            return lowered[name]
    for prefix in _PREFIXES.get(role, ()):
        matches = [c for c in columns if c.startswith(prefix)]
        if role == "label" and prefix == "Answer.":
            group = _single_one_hot_prefix(matches)
            if group is not None:
                return group
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            if role == "item" and "ASSIGNMENT:task_id" in columns:
                return "ASSIGNMENT:task_id"
            raise InputError(
                f"several {prefix}* columns could be the {role}: {_show(matches)}; "
                f"choose one with {_FLAGS[role]} ({_PYTHON[role]} in Python)",
                source=source,
            )
    return None


def _one_hot_group(columns: list[str], prefix: str) -> list[str]:
    """Columns named ``prefix.<option>`` (an MTurk radio-button group)."""
    return [c for c in columns if c.startswith(prefix + ".") and "." not in c[len(prefix) + 1:]]


def _single_one_hot_prefix(answer_columns: list[str]) -> str | None:
    """The common ``Answer.<question>`` prefix when every Answer column is one option of it."""
    if len(answer_columns) < 2:
        return None
    prefixes = {c.rsplit(".", 1)[0] for c in answer_columns}
    if len(prefixes) == 1:
        prefix = prefixes.pop()
        if prefix.count(".") >= 1 and len(_one_hot_group(answer_columns, prefix)) == len(answer_columns):
            return prefix
    return None


def one_hot_columns(columns: list[str], label: str) -> list[str]:
    """Columns that make up ``label`` when it names a one-hot group, else ``[]``."""
    if label in columns:
        return []
    return _one_hot_group(columns, label)


def _show(columns: list[str], shown: int = 12) -> str:
    head = ", ".join(repr(c) for c in columns[:shown])
    return f"[{head}{', ...' if len(columns) > shown else ''}]"
