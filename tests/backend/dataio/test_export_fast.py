"""On Postgres, native and CSV exports are written by SQL (``selectors.native_pages`` and
``csv_pages``); they must write what the record path (``export_items`` + the format writers)
writes, for every source and filter they take.

Hypothesis generates whole projects (the round-trip test's generator: every annotation
state, segments with frequency bounds and text, reviews, references, predictions, metadata
with arbitrary keys). Runs when DATABASE_URL is Postgres (CI); SQLite has only the record path.
"""

from __future__ import annotations

import io
import json
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from backend.dataio import selectors
from backend.dataio.exports import ExportSpec, export_write
from backend.projects.models import Project
from tests.backend.dataio.test_round_trip import _build, projects

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="the SQL export path is Postgres only; runs when DATABASE_URL is Postgres (CI)",
    ),
]

# (source, filters) pairs the fast path takes
CASES: list[tuple[str, dict[str, Any]]] = [
    ("all", {}),
    ("reviewed", {}),
    ("all", {"annotation_state": "submitted"}),
    ("all", {"annotation_state": ["draft", "skipped"]}),
    ("all", {"annotator": ["ana", "chloé"]}),
    ("all", {"item_state": "ready"}),
    ("all", {"updated_after": "2020-01-01"}),
    ("reviewed", {"annotation_state": "submitted", "updated_before": "2100-01-01"}),
]


def _export(
    project: Project, *, fast: bool, **spec: Any
) -> tuple[bytes, dict[str, Any], list[int]]:
    out, progress = io.BytesIO(), []
    supported = selectors.fast_export_supported
    with mock.patch.object(
        selectors,
        "fast_export_supported",
        side_effect=lambda **kw: supported(**kw) if fast else False,
    ):
        outcome = export_write(
            project=project, spec=ExportSpec(**spec), out=out, on_progress=progress.append
        )
    return out.getvalue(), outcome, progress


def _lines(data: bytes) -> list[Any]:
    return [json.loads(x) for x in data.decode().splitlines()]


@settings(
    max_examples=25,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=projects, case=st.sampled_from(CASES), page_items=st.sampled_from([1, 2, 2000]))
def test_sql_exports_write_what_the_record_path_writes(spec, case, page_items):
    project = _build(spec)
    source, filters = case
    with mock.patch.object(selectors, "PAGE_ITEMS", page_items):
        for fmt in ("native", "csv"):
            fast, fast_outcome, _ = _export(
                project, fast=True, fmt=fmt, source=source, filters=filters
            )
            slow, slow_outcome, _ = _export(
                project, fast=False, fmt=fmt, source=source, filters=filters
            )
            assert fast_outcome == slow_outcome
            if fmt == "csv":
                assert fast.decode() == slow.decode()
            else:
                # Equal as parsed content; numbers inside stored JSON (prediction scores,
                # metadata) may be spelled otherwise by Postgres (1e-300 as 0.000...1).
                assert _lines(fast) == _lines(slow)


def test_the_sql_path_is_taken_and_byte_identical_on_ordinary_data(db):
    project = _build(
        {
            "instructions": "",
            "per_item": 3,
            "items": [
                {
                    "external_id": f"ext/{n}",
                    "sha256": f"{n:064x}",
                    "storage_key": f"audio/{n}.wav",
                    "original_name": f'take {n}, "quoted".wav',
                    "duration_s": 12.0 + n,
                    "metadata": {"site": "Bois, Est", "n": n, "ok": True, "note": 'a": b'}
                    | ({"gone": None, "empty": {}, "list": [None, []]} if n == 1 else {}),
                    "annotations": [
                        {
                            "annotator": who,
                            "state": "submitted",
                            "clip_labels": {"scene": ["park"]},
                            "segments": [
                                {
                                    "start_s": 1.0,
                                    "end_s": 2.5,
                                    "label": "dog",
                                    "low_hz": 50.0,
                                    "high_hz": 900.25,
                                    "text": 'bark,\nthen "woof"',
                                },
                                {
                                    "start_s": 0.1,
                                    "end_s": 3.0,
                                    "label": "bird",
                                    "low_hz": None,
                                    "high_hz": None,
                                    "text": "",
                                },
                            ],
                            "lead_time_s": 4.0,
                            "submitted_at": None,
                            "review_state": "pending",
                            "reviews": [("ben", "accepted", "fine, ok")],
                        }
                        for who in ("ana", "chloé")
                    ],
                    "reference": None,
                    "predictions": [
                        {
                            "clip": {"scene": ["park"]},
                            "scores": 0.75,
                            "segments": [],
                            "uncertainty": 0.5,
                        },
                    ],
                }
                for n in range(3)
            ],
        }
    )
    for fmt, name in (("native", "native_pages"), ("csv", "csv_pages")):
        with mock.patch.object(selectors, name, wraps=getattr(selectors, name)) as pages:
            fast, fast_outcome, fast_progress = _export(project, fast=True, fmt=fmt)
        assert pages.called
        slow, slow_outcome, _ = _export(project, fast=False, fmt=fmt)
        assert fast == slow
        assert fast_outcome == slow_outcome == {"items": 3, "skipped": []}
        assert fast_progress == [3]


def test_sources_and_filters_the_sql_path_leaves_to_the_record_path(db):
    assert not selectors.fast_export_supported(
        source="consensus", filters=selectors.ExportFilters()
    )
    assert not selectors.fast_export_supported(
        source="predictions", filters=selectors.ExportFilters()
    )
    assert not selectors.fast_export_supported(
        source="all", filters=selectors.ExportFilters(labels=("dog",))
    )
    assert selectors.fast_export_supported(source="reviewed", filters=selectors.ExportFilters())
