import pytest

from backend.common.exceptions import ValidationFailed
from backend.projects.schema import LabelSchema
from tests.factories import DEMO_SCHEMA


def test_parse_round_trips_the_demo_schema():
    schema = LabelSchema.parse(DEMO_SCHEMA)
    assert LabelSchema.parse(schema.to_json()) == schema
    assert schema.group("scene") is not None
    assert schema.segment_label_names == {"dog", "bird"}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (
            {"clip_groups": [{"name": "a", "choice": "some", "labels": ["x"]}]},
            "clip_groups.0.choice",
        ),
        ({"clip_groups": [{"name": "a", "labels": []}]}, "clip_groups.0.labels"),
        ({"clip_groups": [{"name": "a", "labels": ["x", "x"]}]}, "clip_groups.0.labels"),
        (
            {"segment_labels": [{"name": "a", "hotkey": "1"}, {"name": "b", "hotkey": "1"}]},
            "segment_labels.1.hotkey",
        ),
        ({"segment_labels": [{"name": "a"}, {"name": "a"}]}, "segment_labels.1.name"),
        ({"segments_overlap": "yes"}, "segments_overlap"),
        ({"colour_map": "viridis"}, "colour_map"),
    ],
)
def test_parse_names_the_bad_field(raw, field):
    with pytest.raises(ValidationFailed) as info:
        LabelSchema.parse(raw)
    assert f"label_schema.{field}" in info.value.fields
