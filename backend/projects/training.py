"""A project's training settings (``Project.training_settings``), parsed and validated.

Shape (every key optional)::

    {"task": "clip",              # or "segments": a sound event detector for the segment labels
     "group": "scene",            # the clip label group the classifier learns (default: the first)
     "auto_train_after": 20,      # start a run after this many new submissions (0: only on request)
     "epochs": 30, "window_s": 5.0, "seed": 0,
     "uncertainty": "least_confidence",   # or "margin", "entropy"
     "batch_size_al": 10}         # batch size the diverse queue spreads over
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backend.common.exceptions import ValidationFailed
from backend.projects.schema import ClipGroup, LabelSchema
from ml_worker.contracts import TASKS, UNCERTAINTY_MEASURES


@dataclass(frozen=True)
class TrainingSettings:
    task: str = ""
    group: str = ""
    auto_train_after: int = 0
    epochs: int = 30
    window_s: float = 5.0
    seed: int = 0
    uncertainty: str = "least_confidence"
    batch_size_al: int = 10

    @classmethod
    def parse(cls, raw: Any, *, schema: LabelSchema | None = None) -> TrainingSettings:
        """Validate raw JSON; raise ``ValidationFailed`` naming every bad field."""
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ValidationFailed(
                "training_settings must be an object",
                fields={"training_settings": ["must be an object"]},
            )
        errors: dict[str, list[str]] = {}

        def err(key: str, msg: str) -> None:
            errors.setdefault(f"training_settings.{key}", []).append(msg)

        known = set(cls.__dataclass_fields__)
        for key in raw:
            if key not in known:
                err(key, f"unknown key; expected one of {sorted(known)}")
        ints = {"auto_train_after": (0, 100_000), "epochs": (1, 500), "seed": (0, 2**31 - 1)}
        ints["batch_size_al"] = (1, 1000)
        for key, (low, high) in ints.items():
            value = raw.get(key)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high
            ):
                err(key, f"must be an integer from {low} to {high}")
        window = raw.get("window_s")
        number = isinstance(window, int | float) and not isinstance(window, bool)
        if window is not None and (not number or not 0.5 <= window <= 60):
            err("window_s", "must be a number of seconds from 0.5 to 60")
        measure = raw.get("uncertainty")
        if measure is not None and measure not in UNCERTAINTY_MEASURES:
            err("uncertainty", f"must be one of {list(UNCERTAINTY_MEASURES)}")
        task = raw.get("task")
        if task is not None and task not in TASKS:
            err("task", f"must be one of {list(TASKS)}")
        group = raw.get("group")
        if group is not None:
            if not isinstance(group, str):
                err("group", "must be the name of a clip label group")
            elif schema is not None and schema.group(group) is None:
                err("group", f"no clip label group named {group!r} in the label schema")
        if errors:
            first = next(iter(errors))
            raise ValidationFailed(f"{first}: {errors[first][0]}", fields=errors)
        return cls(**{k: v for k, v in raw.items() if k in known})

    def target_task(self, schema: LabelSchema) -> str:
        """The named task, else a clip classifier when the schema has clip groups, else a
        segment detector."""
        if self.task:
            return self.task
        return "clip" if schema.clip_groups or not schema.segment_labels else "segments"

    def target_group(self, schema: LabelSchema) -> ClipGroup | None:
        """The group to learn: the named one, else the first clip group (None: no clip groups)."""
        if self.group:
            return schema.group(self.group)
        return schema.clip_groups[0] if schema.clip_groups else None
