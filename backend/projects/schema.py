"""The label schema of a project: what annotators may label, parsed and validated.

Stored as JSON on ``Project.label_schema``; every reader goes through ``LabelSchema.parse`` so
the rules live in one place. Shape::

    {
      "clip_groups": [{"name": "scene", "choice": "single", "labels": ["street", "park"],
                       "required": true}],
      "segment_labels": [{"name": "dog", "color": "#e6194b", "hotkey": "1"}],
      "segments_overlap": true,
      "segment_frequency": false,
      "segment_text": false
    }
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from backend.common.exceptions import ValidationFailed

_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_NAME_MAX = 100


@dataclass(frozen=True)
class ClipGroup:
    name: str
    choice: str  # "single" or "multi"
    labels: tuple[str, ...]
    required: bool = False


@dataclass(frozen=True)
class SegmentLabel:
    name: str
    color: str
    hotkey: str = ""


@dataclass(frozen=True)
class LabelSchema:
    clip_groups: tuple[ClipGroup, ...] = ()
    segment_labels: tuple[SegmentLabel, ...] = ()
    segments_overlap: bool = True
    segment_frequency: bool = False
    segment_text: bool = False
    _groups: dict[str, ClipGroup] = field(default_factory=dict, compare=False, repr=False)

    def group(self, name: str) -> ClipGroup | None:
        return self._groups.get(name)

    @property
    def segment_label_names(self) -> frozenset[str]:
        return frozenset(s.name for s in self.segment_labels)

    @classmethod
    def parse(cls, raw: Any) -> LabelSchema:
        """Validate raw JSON; raise ``ValidationFailed`` naming every bad field."""
        errors: dict[str, list[str]] = {}

        def err(path: str, msg: str) -> None:
            errors.setdefault(f"label_schema.{path}", []).append(msg)

        if not isinstance(raw, dict):
            raise ValidationFailed(
                "label_schema must be an object", fields={"label_schema": ["must be an object"]}
            )
        known = {
            "clip_groups",
            "segment_labels",
            "segments_overlap",
            "segment_frequency",
            "segment_text",
        }
        for key in raw:
            if key not in known:
                err(key, f"unknown key; expected one of {sorted(known)}")

        groups: list[ClipGroup] = []
        raw_groups = raw.get("clip_groups", [])
        if not isinstance(raw_groups, list):
            err("clip_groups", "must be a list")
            raw_groups = []
        for i, g in enumerate(raw_groups):
            p = f"clip_groups.{i}"
            if not isinstance(g, dict):
                err(p, "must be an object")
                continue
            name = g.get("name")
            if not isinstance(name, str) or not name.strip() or len(name) > _NAME_MAX:
                err(f"{p}.name", f"must be a non-empty string of at most {_NAME_MAX} characters")
                continue
            choice = g.get("choice", "single")
            if choice not in ("single", "multi"):
                err(f"{p}.choice", "must be 'single' or 'multi'")
            labels = g.get("labels")
            if (
                not isinstance(labels, list)
                or not labels
                or not all(isinstance(x, str) and x.strip() for x in labels)
            ):
                err(f"{p}.labels", "must be a non-empty list of non-empty strings")
                continue
            if len(set(labels)) != len(labels):
                err(f"{p}.labels", "labels must be unique")
            if any(x.name == name for x in groups):
                err(f"{p}.name", f"duplicate group name {name!r}")
            required = g.get("required", False)
            if not isinstance(required, bool):
                err(f"{p}.required", "must be true or false")
            groups.append(ClipGroup(name, str(choice), tuple(labels), bool(required)))

        seg_labels: list[SegmentLabel] = []
        raw_segs = raw.get("segment_labels", [])
        if not isinstance(raw_segs, list):
            err("segment_labels", "must be a list")
            raw_segs = []
        hotkeys: set[str] = set()
        for i, s in enumerate(raw_segs):
            p = f"segment_labels.{i}"
            if not isinstance(s, dict):
                err(p, "must be an object")
                continue
            name = s.get("name")
            if not isinstance(name, str) or not name.strip() or len(name) > _NAME_MAX:
                err(f"{p}.name", f"must be a non-empty string of at most {_NAME_MAX} characters")
                continue
            if any(x.name == name for x in seg_labels):
                err(f"{p}.name", f"duplicate segment label {name!r}")
            color = s.get("color", "#4363d8")
            if not isinstance(color, str) or not _COLOR.match(color):
                err(f"{p}.color", "must be a colour like #1f77b4")
            hotkey = s.get("hotkey", "")
            if not isinstance(hotkey, str) or len(hotkey) > 1:
                err(f"{p}.hotkey", "must be a single character or empty")
            elif hotkey:
                if hotkey in hotkeys:
                    err(f"{p}.hotkey", f"hotkey {hotkey!r} is used twice")
                hotkeys.add(hotkey)
            seg_labels.append(SegmentLabel(name, str(color), str(hotkey)))

        flags: dict[str, bool] = {}
        for key, default in (
            ("segments_overlap", True),
            ("segment_frequency", False),
            ("segment_text", False),
        ):
            value = raw.get(key, default)
            if not isinstance(value, bool):
                err(key, "must be true or false")
                value = default
            flags[key] = value

        if errors:
            first = next(iter(errors.items()))
            raise ValidationFailed(f"{first[0]}: {first[1][0]}", fields=errors)
        return cls(
            clip_groups=tuple(groups),
            segment_labels=tuple(seg_labels),
            _groups={g.name: g for g in groups},
            **flags,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "clip_groups": [
                {
                    "name": g.name,
                    "choice": g.choice,
                    "labels": list(g.labels),
                    "required": g.required,
                }
                for g in self.clip_groups
            ],
            "segment_labels": [
                {"name": s.name, "color": s.color, "hotkey": s.hotkey} for s in self.segment_labels
            ],
            "segments_overlap": self.segments_overlap,
            "segment_frequency": self.segment_frequency,
            "segment_text": self.segment_text,
        }
