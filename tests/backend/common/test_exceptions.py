from rest_framework import exceptions

from backend.common.exceptions import _flatten


def test_nested_drf_errors_flatten_to_dotted_paths():
    detail = exceptions.ValidationError(
        {"segments": [{}, {"end_s": ["A valid number is required."]}], "name": ["required"]}
    ).detail
    assert _flatten(detail) == {
        "segments.1.end_s": ["A valid number is required."],
        "name": ["required"],
    }
