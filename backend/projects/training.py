"""A project's training settings (``Project.training_settings``), parsed and validated.

Shape (every key optional)::

    {"task": "clip",              # or "segments": a sound event detector for the segment labels
     "group": "scene",            # the clip label group the classifier learns (default: the first)
     "auto_train_after": 20,      # start a run after this many new submissions (0: only on request)
     "epochs": 30, "window_s": 5.0, "seed": 0,
     "uncertainty": "least_confidence",   # or "margin", "entropy"
     "batch_size_al": 10,         # batch size the diverse queue spreads over
     "semi_supervised": true,     # heads on an embedding model also learn from the
                                  # unlabelled items (labels spread over their neighbours)
     "embedding_model": {"key": "projects/7/embedding-models/ab12.onnx",
                         "sample_rate_hz": 16000, "window_s": 1.0}}
                                  # your own embedding model (uploaded through the API);
                                  # then only a small head is trained on its embeddings
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
    semi_supervised: bool = True
    embedding_model: dict[str, Any] | None = None

    @classmethod
    def parse(
        cls, raw: Any, *, schema: LabelSchema | None = None, project_id: int | None = None
    ) -> TrainingSettings:
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
        if not isinstance(raw.get("semi_supervised", True), bool):
            err("semi_supervised", "must be true or false")
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
        model = raw.get("embedding_model")
        if model is not None:
            _check_embedding_model(model, project_id, err)
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


def embedding_models_prefix(project_id: int) -> str:
    return f"projects/{project_id}/embedding-models/"


def _check_embedding_model(model: Any, project_id: int | None, err: Any) -> None:
    if not isinstance(model, dict):
        err("embedding_model", "must be an object with key, sample_rate_hz and window_s")
        return
    unknown = set(model) - {"key", "sample_rate_hz", "window_s"}
    if unknown:
        err("embedding_model", f"unknown keys {sorted(unknown)}")
    key = model.get("key")
    if project_id is None:
        err("embedding_model.key", "upload the model to the project first")
    elif not isinstance(key, str) or not key.startswith(embedding_models_prefix(project_id)):
        err("embedding_model.key", "must name a model uploaded to this project")
    rate = model.get("sample_rate_hz")
    if isinstance(rate, bool) or not isinstance(rate, int) or not 4000 <= rate <= 192_000:
        err("embedding_model.sample_rate_hz", "must be an integer from 4000 to 192000")
    window = model.get("window_s")
    if isinstance(window, bool) or not isinstance(window, int | float) or not 0.05 <= window <= 60:
        err("embedding_model.window_s", "must be a number of seconds from 0.05 to 60")
