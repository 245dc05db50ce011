"""The records every reader yields and every writer takes: plain data, no Django."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RowError:
    """A row the import cannot take: where (``row``, a dotted ``field``) and why."""

    row: int
    field: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "reason": self.reason}


@dataclass(frozen=True)
class Unmapped:
    """Something in the file that has no place in our schema; reported, not an error."""

    row: int
    what: str

    def to_json(self) -> dict[str, Any]:
        return {"row": self.row, "what": self.what}


@dataclass(frozen=True)
class SegmentRecord:
    start_s: float
    end_s: float
    label: str
    low_hz: float | None = None
    high_hz: float | None = None
    text: str = ""
    score: float | None = None  # predictions only

    def to_json(self) -> dict[str, Any]:
        return {
            "start_s": self.start_s,
            "end_s": self.end_s,
            "label": self.label,
            "low_hz": self.low_hz,
            "high_hz": self.high_hz,
            "text": self.text,
        }


@dataclass(frozen=True)
class ReviewRecord:
    reviewer: str
    verdict: str
    comment: str = ""


@dataclass(frozen=True)
class AnnotationRecord:
    # None: the importing user's (formats that name nobody, or when the import says so)
    annotator: str | None
    state: str = "submitted"
    clip_labels: dict[str, list[str]] = field(default_factory=dict)
    segments: tuple[SegmentRecord, ...] = ()
    lead_time_s: float = 0.0
    submitted_at: str | None = None  # ISO 8601
    reviews: tuple[ReviewRecord, ...] = ()
    # A reviewer's correction: the item's reviewed truth, not one annotator's work
    is_reference: bool = False
    review_state: str = "pending"


@dataclass(frozen=True)
class PredictionRecord:
    # The model version's number in the file (native), or None: the import's model
    model_version: int | None
    # The model's name when the file names it by name (Label Studio), not by number
    model_name: str | None = None
    clip_scores: dict[str, dict[str, float]] = field(default_factory=dict)
    segments: tuple[dict[str, Any], ...] = ()
    uncertainty: float | None = None


@dataclass(frozen=True)
class ItemRecord:
    """One recording and what was said about it.

    On import an item is found by ``external_id``, then ``sha256``; ``match_only`` records
    (Raven, Audacity, predictions) never create items and may also match by ``storage_key``
    or ``original_name`` (with or without its extension).
    """

    row: int
    external_id: str | None = None
    sha256: str | None = None
    storage_key: str = ""
    connection: str | None = None  # a storage connection's name
    original_name: str = ""
    format: str = ""
    content_type: str = ""
    size_bytes: int = 0
    duration_s: float = 0.0
    sample_rate_hz: int = 0
    channels: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    annotations: tuple[AnnotationRecord, ...] = ()
    predictions: tuple[PredictionRecord, ...] = ()
    match_only: bool = False


@dataclass(frozen=True)
class ProjectRecord:
    """The native header: the project's schema and settings."""

    row: int
    name: str
    settings: dict[str, Any]


@dataclass(frozen=True)
class ModelVersionRecord:
    row: int
    version: int
    kind: str
    is_external: bool = False
    checkpoint_key: str = ""
    trained_on: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    training_time_s: float | None = None
    device: str = ""


Record = RowError | Unmapped | ItemRecord | ProjectRecord | ModelVersionRecord
