"""Property: export -> import into a new project -> export gives the same content.

Hypothesis generates whole projects (items with and without audio facts, several people's
annotations in every state, segments with frequency bounds and text, reviews, a reviewer's
reference annotation, model versions and predictions) straight into the database.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from backend.annotations.models import Annotation, Review, Segment
from backend.audio.models import AudioItem
from backend.predictions.models import ModelVersion, Prediction
from backend.projects.models import Membership, Project
from backend.users.models import User
from tests.backend.dataio.conftest import run_export, run_import
from tests.factories import DEMO_SCHEMA

pytestmark = pytest.mark.django_db

PEOPLE = ("ana", "ben", "chloé", "dev@example.org")
GROUPS = {g["name"]: g for g in DEMO_SCHEMA["clip_groups"]}
SEGMENT_LABELS = [s["name"] for s in DEMO_SCHEMA["segment_labels"]]
RATE_HZ = 16000
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)


@st.composite
def clip_labels(draw: st.DrawFn) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, group in GROUPS.items():
        if group["choice"] == "single":
            chosen = draw(st.lists(st.sampled_from(group["labels"]), max_size=1))
        else:
            chosen = draw(st.lists(st.sampled_from(group["labels"]), max_size=3, unique=True))
        if chosen:
            out[name] = [x for x in group["labels"] if x in chosen]
    return out


@st.composite
def segments(draw: st.DrawFn, duration_s: float) -> list[dict[str, Any]]:
    out = []
    for _ in range(draw(st.integers(0, 3))):
        start = draw(st.floats(0, duration_s * 0.9, allow_nan=False))
        end = draw(st.floats(start, duration_s, allow_nan=False).filter(lambda e, s=start: e > s))
        bounded = draw(st.booleans())
        low = draw(st.floats(0, 3000)) if bounded else None
        high = draw(st.floats(low + 1, RATE_HZ / 2)) if bounded and low is not None else None
        out.append(
            {"start_s": start, "end_s": end, "label": draw(st.sampled_from(SEGMENT_LABELS)),
             "low_hz": low, "high_hz": high, "text": draw(text)}
        )  # fmt: skip
    return out


times = st.datetimes(
    min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 1, 1), timezones=st.just(dt.UTC)
)


@st.composite
def annotation(draw: st.DrawFn, who: str, duration_s: float) -> dict[str, Any]:
    return {
        "annotator": who,
        "state": draw(st.sampled_from(["draft", "submitted", "skipped"])),
        "clip_labels": draw(clip_labels()),
        "segments": draw(segments(duration_s)),
        "lead_time_s": draw(st.floats(0, 1000, allow_nan=False)),
        "submitted_at": draw(st.none() | times),
        "review_state": draw(st.sampled_from(["pending", "accepted", "rejected", "corrected"])),
        "reviews": draw(
            st.lists(
                st.tuples(st.sampled_from(PEOPLE), st.sampled_from(["accepted", "rejected"]), text),
                max_size=2,
            )
        ),
    }


@st.composite
def item(draw: st.DrawFn, n: int) -> dict[str, Any]:
    processed = draw(st.booleans())
    duration_s = draw(st.floats(1, 600, allow_nan=False)) if processed else 0.0
    limit = duration_s or 60.0
    people = draw(st.lists(st.sampled_from(PEOPLE), unique=True, max_size=3))
    return {
        "external_id": f"ext/{n}" if draw(st.booleans()) or not processed else None,
        "sha256": f"{n:064x}" if processed else None,
        "storage_key": f"audio/{n}.wav",
        "original_name": draw(text) + ".wav",
        "duration_s": duration_s,
        "metadata": draw(st.dictionaries(text, st.integers() | text | st.booleans(), max_size=3)),
        "annotations": [draw(annotation(who, limit)) for who in people],
        "reference": draw(st.none() | annotation(PEOPLE[0], limit)),
        "predictions": draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "clip": clip_labels(),
                        "scores": st.floats(0, 1),
                        "segments": segments(limit),
                        "uncertainty": st.none() | st.floats(0, 1),
                    }
                ),
                max_size=2,
            )
        ),
    }


def _user(name: str) -> User:
    return User.objects.get_or_create(username=name)[0]


def _build(spec: dict[str, Any]) -> Project:
    project = Project.objects.create(
        name="generated", label_schema=DEMO_SCHEMA, instructions=spec["instructions"],
        annotations_per_item=spec["per_item"],
    )  # fmt: skip
    models = [
        ModelVersion.objects.create(project=project, version=v, kind=k, is_external=x)
        for v, (k, x) in enumerate([("clip_cnn", False), ("birdnet", True)], start=1)
    ]
    for n, it in enumerate(spec["items"]):
        row = AudioItem.objects.create(
            project=project, storage_key=it["storage_key"], original_name=it["original_name"],
            external_id=it["external_id"], sha256=it["sha256"], duration_s=it["duration_s"],
            sample_rate_hz=RATE_HZ if it["sha256"] else 0, channels=1 if it["sha256"] else 0,
            format="wav" if it["sha256"] else "", metadata=it["metadata"], state="ready",
        )  # fmt: skip
        work = [(a, False) for a in it["annotations"]]
        if it["reference"]:
            work.append((it["reference"], True))
        for a, is_reference in work:
            ann = Annotation.objects.create(
                item=row, annotator=_user(a["annotator"]), state=a["state"],
                clip_labels=a["clip_labels"], lead_time_s=a["lead_time_s"],
                submitted_at=a["submitted_at"], review_state=a["review_state"],
                is_reference=is_reference,
            )  # fmt: skip
            Segment.objects.bulk_create(Segment(annotation=ann, **s) for s in a["segments"])
            for reviewer, verdict, comment in a["reviews"]:
                Review.objects.create(
                    annotation=ann, reviewer=_user(reviewer), verdict=verdict, comment=comment
                )
        for mv, p in zip(models, it["predictions"], strict=False):
            Prediction.objects.create(
                item=row, model_version=mv, uncertainty=p["uncertainty"],
                clip_scores={g: dict.fromkeys(labs, p["scores"]) for g, labs in p["clip"].items()},
                segments=[
                    {k: v for k, v in s.items() if k != "text"} | {"score": p["scores"]}
                    for s in p["segments"]
                ],
            )  # fmt: skip
        assert n >= 0
    return project


projects = st.fixed_dictionaries(
    {
        "instructions": text,
        "per_item": st.integers(1, 5),
        "items": st.integers(0, 5).flatmap(lambda k: st.tuples(*(item(n) for n in range(k)))),
    }
)


def _new_project(schema: dict[str, Any]) -> tuple[Project, User]:
    target = Project.objects.create(name="copy", label_schema=schema)
    manager = User.objects.get_or_create(username="importer")[0]
    Membership.objects.create(project=target, user=manager, role="manager")
    return target, manager


@settings(
    max_examples=30,
    deadline=None,
    # shrinking a failure rebuilds whole projects: keep it short, the failing case is printed
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=projects)
def test_native_round_trip_is_identical(spec):
    source = _build(spec)
    first = run_export(source, "native")
    target, manager = _new_project({})
    report = run_import(target, first, "native", user=manager, check_files=False)
    assert report.error_count == 0, report.errors
    second = run_export(target, "native")
    one, two = first.decode().splitlines(), second.decode().splitlines()
    assert {**json.loads(one[0])["project"], "name": ""} == {
        **json.loads(two[0])["project"],
        "name": "",
    }
    assert [json.loads(x) for x in one[1:]] == [json.loads(x) for x in two[1:]]
    for a, b in zip(one[1:], two[1:], strict=True):
        at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
        assert a == b, (
            at,
            a[max(0, (at or 0) - 80) : (at or 0) + 80],
            b[max(0, (at or 0) - 80) : (at or 0) + 80],
        )
    # and importing it again changes nothing
    again = run_import(target, first, "native", user=manager, check_files=False)
    assert (again.created, again.updated, again.rejected) == (0, 0, 0)


@settings(
    max_examples=30,
    deadline=None,
    # shrinking a failure rebuilds whole projects: keep it short, the failing case is printed
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=projects)
def test_label_studio_round_trip_through_our_importer_is_identical(spec):
    source = _build(spec)
    first = run_export(source, "label_studio")
    target, manager = _new_project(DEMO_SCHEMA)
    report = run_import(target, first, "label_studio", user=manager, check_files=False)
    assert report.error_count == 0, report.errors
    second = run_export(target, "label_studio")
    for a, b in zip(json.loads(first), json.loads(second), strict=True):
        assert a == b
