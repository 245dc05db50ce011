"""The typed shortcuts of the native and Label Studio readers (msgspec decodes a line or task
of the common shape straight into records) give what the full checks give: the same records,
notes and RowErrors, in the same order, for well-formed and malformed files alike.

Hypothesis writes files of items and tasks whose every field is now and then odd (absent,
null, empty, too long, of another type, a number as a string, NaN, -0.0, a huge integer),
lays them out as writers do (one per line, indented, on one line) and now and then cuts or
garbles them; each file is read with the shortcuts and without (``_plain_item`` giving
nothing; ``iter_json_array`` without its ``typed`` decoder, the chunked reader as before).
Records are compared by ``repr`` too, which tells 0.0 from -0.0 and 1 from 1.0.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
from typing import Any
from unittest import mock

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.dataio.formats import label_studio, native, parse
from backend.dataio.formats.records import AnnotationRecord, ItemRecord, RowError, SegmentRecord

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- values, each now and then odd -------------------------------------------------------------

ODD = st.sampled_from(
    [None, "", True, False, 0, -1, -0.0, 2.5, 10**20, 2**64 + 1, "1.5", "x", [], {}, ["a"]]
)
NUMBER = st.one_of(
    st.integers(-(10**25), 10**25),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 0.0, -0.0, 1, 1.5, 1e308, 5e-324, 2**53 + 1]),
)
# lengths around every limit the checks know, in characters outside the BMP too
SIZED = st.builds(
    lambda n, ch: ch * n,
    st.sampled_from([1, 2, 10, 11, 50, 51, 64, 65, 150, 151, 200, 201, 500, 501, 10_000, 10_001]),
    st.sampled_from(["a", "é", "\U0001f600"]),
)
TEXT = st.one_of(st.text(max_size=6), SIZED, st.sampled_from(["dog", "bird", "park", "rec/a.wav"]))


def odd(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``good`` four times in five, else an odd value."""
    return st.integers(0, 4).flatmap(lambda k: ODD if k == 0 else good)


def some(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """An object with any of ``fields`` (absent ones read as absent, not null)."""
    return st.fixed_dictionaries({}, optional=fields)


METADATA = st.dictionaries(st.text(max_size=4), st.one_of(NUMBER, TEXT, st.booleans(), st.none()))

# an item's sha256: a digest as items store it (the only one the shortcuts take), and each
# thing that is not one (the full checks read upper case as lower case; the rest are errors)
DIGEST = st.text("0123456789abcdef", min_size=64, max_size=64)
SHA256_CASES = {
    "valid lower": "0123456789abcdef" * 4,
    "valid upper": "0123456789ABCDEF" * 4,
    "valid mixed case": "0123456789abcdefABCDEF" * 2 + "0123456789abcdefABCD",
    "short": "5",
    "63 characters": "f" * 63,
    "65 characters": "f" * 65,
    "not hex": "g" * 64,
    "a line break after it": "f" * 64 + "\n",
    "spaces around it": " " + "f" * 64 + " ",
    "number": 5,
    "big number": 10**70,
    "null": None,
    "empty": "",
    "list": ["f" * 64],
}
SHA256_READ = {  # what the full checks read; every other case is an error
    "valid lower": "0123456789abcdef" * 4,
    "valid upper": "0123456789abcdef" * 4,
    "valid mixed case": ("0123456789abcdefABCDEF" * 2 + "0123456789abcdefABCD").lower(),
    "null": None,
    "empty": None,
}
SHA256_SHOWN = {  # how the error shows a value whose repr is not it (JSON's, or cut short)
    "63 characters": "'" + "f" * 35 + "...",
    "65 characters": "'" + "f" * 35 + "...",
    "not hex": "'" + "g" * 35 + "...",
    "a line break after it": "'" + "f" * 35 + "...",
    "spaces around it": "' " + "f" * 34 + "...",
    "big number": "1" + "0" * 35 + "...",
    "list": '["' + "f" * 34 + "...",
}
SHA256 = st.one_of(
    DIGEST,
    DIGEST.map(str.upper),
    st.text("0123456789abcdefABCDEFg \n", min_size=60, max_size=66),
    st.sampled_from(list(SHA256_CASES.values())),
)

# --- native ------------------------------------------------------------------------------------

SEGMENT = st.fixed_dictionaries(
    {"start_s": odd(NUMBER), "end_s": odd(NUMBER), "label": odd(TEXT)},
    optional={
        "low_hz": odd(NUMBER),
        "high_hz": odd(NUMBER),
        "text": odd(TEXT),
        "score": odd(NUMBER),
        "extra": TEXT,
    },
)
REVIEW = some(
    reviewer=odd(TEXT),
    verdict=odd(st.sampled_from(["accepted", "rejected", "corrected", "maybe"])),
    comment=odd(TEXT),
)
NATIVE_ANNOTATION = some(
    annotator=odd(TEXT),
    state=odd(st.sampled_from(["submitted", "draft", "skipped", "done"])),
    clip_labels=odd(st.dictionaries(TEXT, odd(st.lists(TEXT, max_size=2)), max_size=2)),
    segments=odd(st.lists(odd(SEGMENT), max_size=3)),
    lead_time_s=odd(NUMBER),
    submitted_at=odd(TEXT),
    reviews=odd(st.lists(odd(REVIEW), max_size=2)),
    is_reference=odd(st.booleans()),
    review_state=odd(st.sampled_from(["pending", "accepted", "rejected", "corrected", "x"])),
    unknown_key=TEXT,
)
PREDICTION = some(
    model_version=odd(st.integers(1, 3)),
    clip_scores=odd(st.dictionaries(TEXT, odd(st.dictionaries(TEXT, odd(NUMBER))), max_size=2)),
    segments=odd(st.lists(odd(SEGMENT), max_size=2)),
    uncertainty=odd(NUMBER),
)
ITEM = st.fixed_dictionaries(
    {"type": st.sampled_from(["item", "item", "item", "model_version", "other"])},
    optional={
        "external_id": odd(TEXT),
        "sha256": odd(SHA256 | TEXT),
        "storage_key": odd(TEXT),
        "connection": odd(TEXT),
        "original_name": odd(TEXT),
        "format": odd(TEXT),
        "content_type": odd(TEXT),
        "size_bytes": odd(st.integers(-2, 10**20)),
        "duration_s": odd(NUMBER),
        "sample_rate_hz": odd(st.integers(-2, 96_000)),
        "channels": odd(st.integers(-1, 2)),
        "metadata": odd(METADATA),
        "annotations": odd(st.lists(odd(NATIVE_ANNOTATION), max_size=3)),
        "predictions": odd(st.lists(odd(PREDICTION), max_size=2)),
    },
)
# ...and the common shape, every value of its type, so that the shortcut's records are
# compared often (and every part of them): an odd line now and then takes the full checks
FINITE = st.one_of(st.integers(-(10**20), 10**20), st.floats(allow_nan=False, allow_infinity=False))
NAME = st.text(min_size=1, max_size=5)
SHORT = st.text(max_size=8)
GOOD_METADATA = st.dictionaries(
    st.text(max_size=4), st.one_of(FINITE, TEXT, st.booleans(), st.none(), st.lists(FINITE))
)
GOOD_SEGMENT = st.fixed_dictionaries(
    {"start_s": FINITE, "end_s": FINITE, "label": NAME},
    optional={"low_hz": FINITE | st.none(), "high_hz": FINITE | st.none(), "text": SHORT},
)
GOOD_ANNOTATION = st.fixed_dictionaries(
    {"annotator": NAME | st.none()},
    optional={
        "state": st.sampled_from(["submitted", "draft", "skipped"]),
        "clip_labels": st.dictionaries(TEXT, st.lists(TEXT, max_size=2), max_size=2),
        "segments": st.lists(GOOD_SEGMENT, max_size=3),
        "lead_time_s": st.floats(0, 1e6) | st.integers(0, 10**6),
        "submitted_at": NAME | st.none(),
        "reviews": st.lists(
            st.fixed_dictionaries(
                {"reviewer": NAME, "verdict": st.sampled_from(["accepted", "corrected"])},
                optional={"comment": SHORT},
            ),
            max_size=2,
        ),
        "is_reference": st.booleans(),
        "review_state": st.sampled_from(["pending", "accepted", "rejected", "corrected"]),
    },
)
GOOD_PREDICTION = st.fixed_dictionaries(
    {"model_version": st.integers(1, 3)},
    optional={
        "clip_scores": st.dictionaries(NAME, st.dictionaries(NAME, FINITE), max_size=2),
        "segments": st.lists(GOOD_SEGMENT, max_size=2),
        "uncertainty": FINITE | st.none(),
    },
)
GOOD_ITEM = st.fixed_dictionaries(
    {"type": st.just("item"), "external_id": NAME},
    optional={
        "sha256": DIGEST | st.none(),
        "storage_key": NAME,
        "connection": NAME | st.none(),
        "original_name": NAME,
        "format": st.text(max_size=10),
        "content_type": st.text(max_size=50),
        "size_bytes": st.integers(0, 2**63 - 1),
        "duration_s": FINITE | st.none(),
        "sample_rate_hz": st.integers(0, 96_000),
        "channels": st.integers(0, 2),
        "metadata": GOOD_METADATA,
        "annotations": st.lists(GOOD_ANNOTATION, max_size=3),
        "predictions": st.lists(GOOD_PREDICTION, max_size=2),
    },
)
HEADER = {"type": "earmark", "version": 1, "project": {"name": "p"}}


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for key, inner in value.items():
            out += _paths(inner, (*path, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            out += _paths(inner, (*path, i))
    return out


@st.composite
def spoiled(draw: st.DrawFn, good: st.SearchStrategy[Any]) -> Any:
    """A value of the common shape with one thing in it, anywhere, made odd or taken away:
    the shortcut must give it up, or read it as the full checks do."""
    value = draw(good)
    path = draw(st.sampled_from(_paths(value)[1:] or [()]))
    if not path:
        return value
    parent = value
    for key in path[:-1]:
        parent = parent[key]
    if isinstance(parent, dict) and draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(ODD | SIZED)
    return value


def _garble(text: str, how: int, where: int) -> str:
    """The text cut short (1), with a character dropped (2), with junk put in (3) or with
    one character put in (4 and on: whitespace JSON does not know, a separator, a bracket)."""
    where = where % (len(text) + 1)
    if how == 1:
        return text[:where]
    if how == 2:
        return text[:where] + text[where + 1 :]
    if how == 3:
        return text[:where] + '"}],x\n' + text[where:]
    if how >= 4:
        return text[:where] + "x;\xa0\x0c,][{}\n\r"[how % 11] + text[where:]
    return text


def _native_line(value: Any, ascii_only: bool, crlf: bool, how: int, where: int) -> str:
    line = json.dumps(value, ensure_ascii=ascii_only)
    return _garble(line, how, where) + ("\r\n" if crlf else "\n")


NATIVE_LINES = st.lists(
    st.builds(
        _native_line,
        st.one_of(ITEM, GOOD_ITEM, spoiled(GOOD_ITEM), st.just(HEADER), ODD),
        st.booleans(),
        st.booleans(),
        st.sampled_from([0, 0, 0, 0, 0, 0, 1, 2, 3, 4]),
        st.integers(0, 10**6),
    )
    | st.sampled_from(["\n", "  \n", "\x0c\n"]),
    max_size=6,
)


def _native(text: str, *, typed: bool) -> tuple[list[Any], str | None]:
    with mock.patch.object(
        native, "_plain_item", side_effect=native._plain_item if typed else lambda row, line: None
    ):
        try:
            return list(native.read(io.StringIO(text))), None
        except Exception as exc:  # a crash must be the same crash
            return [], type(exc).__name__


@SETTINGS
@given(header=st.booleans(), lines=NATIVE_LINES)
def test_native_typed_lines_read_as_the_full_checks_read_them(header, lines):
    # given a native file, well-formed or not
    text = (json.dumps(HEADER) + "\n" if header else "") + "".join(lines)
    # when it is read with the typed shortcut and without
    typed, typed_crash = _native(text, typed=True)
    full, full_crash = _native(text, typed=False)
    # then the records and errors are the same, to the last float's sign
    assert typed_crash == full_crash
    assert typed == full
    assert repr(typed) == repr(full)


WELL_FORMED_ITEMS = [
    {"type": "item", "external_id": "a"},
    {"type": "item", "sha256": "f" * 64, "duration_s": 3, "size_bytes": 10, "channels": 1},
    {
        "type": "item",
        "external_id": "rec/0000001.flac",
        "storage_key": "rec/0000001.flac",
        "original_name": "0000001.flac",
        "connection": "bucket",
        "format": "flac",
        "content_type": "audio/flac",
        "sample_rate_hz": 48000,
        "metadata": {"site": "site-1", "n": [1, 2.5, None]},
        "annotations": [
            {
                "annotator": "ann",
                "state": "submitted",
                "clip_labels": {"scene": ["park"]},
                "segments": [
                    {"start_s": 0, "end_s": 1.5, "label": "dog"},
                    {"start_s": 2.0, "end_s": 3.5, "label": "bird", "low_hz": 100, "text": "x"},
                ],
                "lead_time_s": 4.5,
                "submitted_at": "2026-01-02T03:04:05Z",
                "reviews": [{"reviewer": "rev", "verdict": "accepted", "comment": ""}],
                "is_reference": False,
                "review_state": "accepted",
            },
            {"annotator": None, "state": "draft"},
        ],
        "predictions": [
            {
                "model_version": 1,
                "clip_scores": {"scene": {"park": 0.9}},
                "segments": [{"start_s": 1, "end_s": 2, "label": "dog", "score": 0.5}],
                "uncertainty": 0.1,
            }
        ],
    },
]


# every value put, in turn, in every place of a full item or task: each kind of odd value,
# each length limit's edge (in characters outside the BMP too), the words the checks know
EVERY_ODD: list[Any] = [
    None, "", True, False, 0, 1, -1, -0.0, 2.5, 10**20, 2**64 + 1, float("nan"), float("inf"),
    1e308, "1.5", "x", [], {}, ["a"], [1], {"a": 1}, "accepted", "pending", "skipped", "draft",
    *("\U0001f600" * n for n in (10, 11, 50, 51, 64, 65, 150, 151, 200, 201, 500, 501)),
    "x" * 10_000, "x" * 10_001,
]  # fmt: skip
GONE = object()


def _every_spoiling(value: Any) -> list[Any]:
    out = []
    for path in _paths(value)[1:]:
        for odd_value in [GONE, *EVERY_ODD]:
            spoilt = json.loads(json.dumps(value))
            parent = spoilt
            for key in path[:-1]:
                parent = parent[key]
            if odd_value is GONE:
                if not isinstance(parent, dict):
                    continue
                del parent[path[-1]]
            else:
                parent[path[-1]] = odd_value
            out.append(spoilt)
    return out


def test_native_items_with_one_odd_value_read_as_the_full_checks_read_them():
    # given the full item, and each item with one value anywhere in it odd or taken away
    full_item = WELL_FORMED_ITEMS[2]
    lines = [json.dumps(v) for v in [full_item, *_every_spoiling(full_item)]]
    assert len(lines) > 2000
    taken = 0
    for line in lines:
        # when it is read with the shortcut and without
        text = json.dumps(HEADER) + "\n" + line + "\n"
        typed, typed_crash = _native(text, typed=True)
        full, full_crash = _native(text, typed=False)
        # then both read the same
        assert (typed_crash, repr(typed)) == (full_crash, repr(full)), line
        taken += native._plain_item(2, line) is not None
    # and the shortcut took many of them (the values it reads as the full checks do)
    assert taken > 500


@SETTINGS
@given(value=GOOD_ITEM)
def test_the_typed_shortcut_takes_items_of_the_common_shape(value):
    assert native._plain_item(2, json.dumps(value)) is not None


def test_the_typed_shortcut_takes_well_formed_items():
    for value in WELL_FORMED_ITEMS:
        line = json.dumps(value) + "\n"
        item = native._plain_item(2, line)
        assert isinstance(item, ItemRecord), value
        full, _ = _native(json.dumps(HEADER) + "\n" + line, typed=False)
        assert repr([full[0], item]) == repr(full)


def _sha256_outcome(case: str, field: str) -> tuple[str, Any]:
    """What the full checks make of a case's sha256: ("sha256", the digest read) or
    ("error", the RowError's field and reason)."""
    if case in SHA256_READ:
        return "sha256", SHA256_READ[case]
    got = SHA256_SHOWN.get(case, repr(SHA256_CASES[case]))
    return "error", (field, f"must be 64 hexadecimal characters (a SHA-256 digest), got {got}")


def _outcome(records: list[Any], field: str) -> tuple[str, Any]:
    errors = [(r.field, r.reason) for r in records if isinstance(r, RowError)]
    if errors:
        assert [f for f, _ in errors].count(field) == 1, errors
        return "error", next(e for e in errors if e[0] == field)
    (item,) = [r for r in records if isinstance(r, ItemRecord)]
    return "sha256", item.sha256


@pytest.mark.parametrize("named", [True, False], ids=["with an external id", "by sha256 alone"])
@pytest.mark.parametrize("case", list(SHA256_CASES))
def test_a_native_sha256_reads_as_the_full_checks_read_it(case, named):
    # given an item line with this sha256, named by an external id too or not
    raw = SHA256_CASES[case]
    value = {**(WELL_FORMED_ITEMS[2] if named else WELL_FORMED_ITEMS[1]), "sha256": raw}
    line = json.dumps(value)
    text = json.dumps(HEADER) + "\n" + line + "\n"
    # when it is read with the shortcut and without
    typed, typed_crash = _native(text, typed=True)
    full, full_crash = _native(text, typed=False)
    # then both read the same: a digest in lower case, or an error naming the field
    assert (typed_crash, repr(typed)) == (full_crash, repr(full))
    expected = _sha256_outcome(case, "sha256")
    if not named and expected == ("sha256", None):
        expected = ("error", ("external_id", "an item needs an external_id or a sha256"))
    assert _outcome(full[1:], expected[1][0] if expected[0] == "error" else "sha256") == expected
    # and the shortcut takes only a digest as items store it (or none beside an external id)
    taken = native._plain_item(2, line) is not None
    assert taken == (case == "valid lower" or (case == "null" and named))


# --- Label Studio ------------------------------------------------------------------------------

VALUE = some(
    start=odd(NUMBER),
    end=odd(NUMBER),
    labels=odd(st.lists(TEXT, max_size=2)),
    choices=odd(st.lists(st.sampled_from(["park", "street", "home", "x"]), max_size=2)),
    text=odd(st.lists(TEXT, max_size=1)),
    channel=st.just(0),
)
RESULT = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["labels", "labels", "choices", "textarea", "rectanglelabels"]),
        "value": odd(VALUE),
    },
    optional={
        "id": st.sampled_from(["r1", "r2", "r3", 1, 1.0, None]),
        "from_name": st.sampled_from(["scene", "label", "other", "", None, 3]),
        "to_name": st.just("audio"),
        "score": odd(NUMBER),
        "original_length": odd(NUMBER),
    },
)
USER = st.one_of(
    some(username=odd(TEXT), email=odd(TEXT)), st.integers(-1, 10), TEXT, st.none(), ODD
)
LS_ANNOTATION = some(
    result=odd(st.lists(odd(RESULT), max_size=4)),
    completed_by=USER,
    was_cancelled=odd(st.booleans()),
    lead_time=odd(NUMBER),
    created_at=odd(TEXT),
    ground_truth=odd(st.booleans()),
)
LS_PREDICTION = some(
    model_version=odd(TEXT), score=odd(NUMBER), result=odd(st.lists(odd(RESULT), max_size=2))
)
DATA = some(
    audio=odd(TEXT),
    url=odd(TEXT),
    external_id=odd(TEXT),
    sha256=odd(SHA256 | TEXT),
    duration_s=odd(NUMBER),
    original_name=odd(TEXT),
    site=odd(TEXT),
)
TASK = st.fixed_dictionaries(
    {"data": odd(DATA)},
    optional={
        "meta": odd(METADATA),
        "annotations": odd(st.lists(odd(LS_ANNOTATION), max_size=3)),
        "predictions": st.one_of(st.just([]), odd(st.lists(odd(LS_PREDICTION), max_size=2))),
        "id": st.integers(1, 9),
    },
)


@st.composite
def good_results(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Regions (each its own id) and clip choices, with ``original_length`` now and then."""
    out: list[dict[str, Any]] = []
    for i in range(draw(st.integers(0, 4))):
        result: dict[str, Any]
        if draw(st.booleans()):
            value = {
                "start": draw(FINITE),
                "end": draw(FINITE),
                "labels": draw(st.lists(TEXT, min_size=1, max_size=2)),
                "channel": 0,
            }
            rid = draw(st.sampled_from([f"r{i}", i]))
            result = {"id": rid, "from_name": "label", "type": "labels", "value": value}
        else:
            choices = draw(st.lists(st.sampled_from(["park", "street", "home", "x"]), max_size=2))
            from_name = draw(st.sampled_from(["scene", "other", "", "nope"]))
            result = {"from_name": from_name, "type": "choices", "value": {"choices": choices}}
        if draw(st.booleans()):
            result["original_length"] = draw(FINITE | st.sampled_from([True, None, "12"]))
        out.append(result)
    return out


GOOD_TASK = st.fixed_dictionaries(
    {
        "data": st.fixed_dictionaries(
            {"audio": NAME},
            optional={
                "external_id": NAME,
                "sha256": DIGEST,
                "duration_s": FINITE | st.none(),
                "original_name": NAME,
                "site": TEXT,
            },
        )
    },
    optional={
        "meta": GOOD_METADATA,
        "annotations": st.lists(
            some(
                result=good_results(),
                completed_by=USER,
                was_cancelled=st.booleans() | st.none(),
                lead_time=FINITE | st.none(),
                created_at=NAME | st.none(),
                ground_truth=st.booleans(),
            ),
            max_size=3,
        ),
        "predictions": st.just([]),
    },
)


@SETTINGS
@given(task=GOOD_TASK)
def test_the_typed_shortcut_takes_tasks_of_the_common_shape(task):
    assert label_studio._plain_task(1, label_studio._TASK.decode(json.dumps(task)), {}) is not None


FULL_TASK = {
    "data": {
        "audio": "rec/a.wav",
        "external_id": "a",
        "sha256": "f" * 64,
        "duration_s": 0,
        "original_name": "a.wav",
        "site": "s",
    },
    "meta": {"batch": 2},
    "annotations": [
        {
            "completed_by": {"username": "ann", "email": "a@b"},
            "was_cancelled": False,
            "ground_truth": True,
            "lead_time": 3.5,
            "created_at": "2026-01-02T03:04:05Z",
            "result": [
                {
                    "id": "r1",
                    "from_name": "label",
                    "to_name": "audio",
                    "type": "labels",
                    "original_length": 30,
                    "value": {"start": 1, "end": 2.5, "labels": ["dog", "bird"], "channel": 0},
                },
                {"from_name": "scene", "type": "choices", "value": {"choices": ["park"]}},
            ],
        }
    ],
    "predictions": [],
}


def test_label_studio_tasks_with_one_odd_value_read_as_the_full_checks_read_them():
    # given the full task, and each task with one value anywhere in it odd or taken away
    tasks = [FULL_TASK, *_every_spoiling(FULL_TASK)]
    assert len(tasks) > 1500
    taken = 0
    for task in tasks:
        # when it is read with the shortcut and without
        text = _layout([task], "ours")
        typed, typed_crash = _label_studio(text, typed=True, chunk=1 << 16)
        full, full_crash = _label_studio(text, typed=False, chunk=1 << 16)
        # then both read the same
        assert (typed_crash, repr(typed)) == (full_crash, repr(full)), task
        with contextlib.suppress(msgspec.DecodeError):
            typed_task = label_studio._TASK.decode(json.dumps(task))
            taken += label_studio._plain_task(1, typed_task, FROZEN_GROUPS) is not None
    # and the shortcut took many of them
    assert taken > 600


@pytest.mark.parametrize("named", [True, False], ids=["with an external id", "by sha256 alone"])
@pytest.mark.parametrize("case", list(SHA256_CASES))
def test_a_label_studio_sha256_reads_as_the_full_checks_read_it(case, named):
    # given a task with this data.sha256, named by an external id too or not
    raw = SHA256_CASES[case]
    data = {**FULL_TASK["data"], "sha256": raw}
    if not named:
        del data["external_id"]
    task = {**FULL_TASK, "data": data}
    text = _layout([task], "ours")
    # when it is read with the shortcut and without
    typed, typed_crash = _label_studio(text, typed=True, chunk=1 << 16)
    full, full_crash = _label_studio(text, typed=False, chunk=1 << 16)
    # then both read the same: a digest in lower case, or an error naming the field
    assert (typed_crash, repr(typed)) == (full_crash, repr(full))
    expected = _sha256_outcome(case, "data.sha256")
    assert _outcome(full, "data.sha256") == expected
    if expected[0] == "sha256" and not named:  # the item is known by its bytes, if any
        (item,) = [r for r in full if isinstance(r, ItemRecord)]
        assert item.external_id == (None if raw else "rec/a.wav")
    # and the shortcut takes only a digest as items store it, or none
    typed_task = label_studio._TASK.decode(json.dumps(task))
    taken = label_studio._plain_task(1, typed_task, FROZEN_GROUPS) is not None
    assert taken == (case in ("valid lower", "null"))


def _layout(tasks: list[Any], how: str) -> str:
    """The array as writers lay it out."""
    if how == "ours":  # label_studio.write: one task a line, the comma at its end
        return "[\n" + ",\n".join(json.dumps(t, ensure_ascii=False) for t in tasks) + "\n]\n"
    if how == "leading commas":
        return (
            "[\n"
            + "".join(("," if i else "") + json.dumps(t) + "\n" for i, t in enumerate(tasks))
            + "]\n"
        )
    if how == "indented":
        return json.dumps(tasks, indent=2) + "\n"
    if how == "indented crlf":
        return json.dumps(tasks, indent=4).replace("\n", "\r\n")
    if how == "one line":
        return json.dumps(tasks)
    if how == "two a line":  # `}, {` on a line: the chunked reader reads from there
        return (
            "[\n"
            + ",\n".join(json.dumps(tasks[i : i + 2])[1:-1] for i in range(0, len(tasks), 2))
            + "\n]"
        )
    return "\n".join(json.dumps(t) for t in tasks) + "\n"  # JSON Lines


LAYOUTS = st.sampled_from(
    [
        "ours",
        "ours",
        "leading commas",
        "indented",
        "indented crlf",
        "one line",
        "two a line",
        "lines",
    ]
)
GROUPS = {"scene": ["park", "street", "home"], "other": ["x"]}
FROZEN_GROUPS = {group: frozenset(labels) for group, labels in GROUPS.items()}


def _label_studio(text: str, *, typed: bool, chunk: int) -> tuple[list[Any], str | None]:
    untyped = parse.iter_json_array

    def without_typed(fh, typed=None):
        return untyped(fh)

    with (
        mock.patch.object(parse, "_CHUNK", chunk),
        mock.patch.object(
            parse, "iter_json_array", side_effect=untyped if typed else without_typed
        ),
    ):
        try:
            return list(label_studio.read(io.StringIO(text), clip_groups=GROUPS)), None
        except Exception as exc:  # a crash must be the same crash
            return [], type(exc).__name__


@SETTINGS
@given(
    tasks=st.lists(st.one_of(TASK, GOOD_TASK, spoiled(GOOD_TASK), ODD), max_size=5),
    layout=LAYOUTS,
    how=st.sampled_from([0, 0, 0, 0, 1, 2, 3]) | st.integers(4, 14),
    where=st.integers(0, 10**6),
    chunk=st.sampled_from([1 << 16, 1 << 16, 300, 40]),
)
def test_label_studio_typed_tasks_read_as_the_full_checks_read_them(
    tasks, layout, how, where, chunk
):
    # given a Label Studio file, laid out as some writer lays it out, well-formed or not
    text = _garble(_layout(tasks, layout), how, where)
    # when it is read with the typed shortcut (and the line reader) and without
    typed, typed_crash = _label_studio(text, typed=True, chunk=chunk)
    full, full_crash = _label_studio(text, typed=False, chunk=chunk)
    # then the records, notes and errors are the same
    assert typed_crash == full_crash
    assert typed == full
    assert repr(typed) == repr(full)


def _bench_task(n: int) -> dict[str, Any]:
    results = [
        {
            "id": f"r{j}",
            "from_name": "label",
            "to_name": "audio",
            "type": "labels",
            "value": {"start": j * 2.0, "end": j * 2 + 1.5, "labels": ["dog"]},
        }
        for j in range(3)
    ] + [{"from_name": "scene", "type": "choices", "value": {"choices": ["park"]}}]
    return {
        "data": {"audio": f"rec/{n}.flac", "site": "s"},
        "meta": {"batch": 2},
        "annotations": [
            {"completed_by": {"email": "a"}, "result": results, "lead_time": 3},
            {"completed_by": 7, "result": [], "was_cancelled": True, "created_at": "2026-01-02"},
        ],
        "predictions": [],
    }


def test_the_typed_shortcut_takes_well_formed_tasks():
    # given tasks of the common shape, one a line and indented
    tasks = [_bench_task(n) for n in range(3)]
    for layout in ("ours", "leading commas", "indented", "indented crlf"):
        text = _layout(tasks, layout)
        # when the array is read with the typed decoder
        entries = list(parse.iter_json_array(io.StringIO(text), label_studio._TASK.decode))
        # then every task comes typed, and the shortcut takes it
        assert [type(v) for _, v in entries] == [parse.Decoded] * 3, layout
        for row, entry in entries:
            assert label_studio._plain_task(row, entry.value, {}) is not None
            assert json.loads(entry.text) == tasks[row - 1]


ARRAY_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), NUMBER, st.text(max_size=4)),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)


@SETTINGS
@given(
    values=st.lists(ARRAY_VALUES, max_size=5),
    layout=LAYOUTS,
    how=st.sampled_from([0, 0, 1, 2, 3]) | st.integers(4, 14),
    where=st.integers(0, 10**6),
    chunk=st.sampled_from([1 << 16, 100, 7]),
)
def test_the_line_reader_gives_the_chunked_readers_values(values, layout, how, where, chunk):
    # given any JSON array, laid out in any way, whole or garbled
    text = _garble(_layout(values, layout), how, where)

    def read(typed):
        out = []
        with mock.patch.object(parse, "_CHUNK", chunk):
            try:
                for entry in parse.iter_json_array(io.StringIO(text), typed):
                    if not isinstance(entry, RowError) and type(entry[1]) is parse.Decoded:
                        entry = (entry[0], json.loads(entry[1].text))
                    out.append(entry)
            except RecursionError as exc:
                out.append(type(exc).__name__)
        return out

    def never(text_):
        raise msgspec.DecodeError("typed decoding is not tried here")

    # when it is read line by line (typed: any value; never: every value through json)
    # and by the chunked reader
    chunked = read(None)
    # then the values and errors are the same
    for typed in (msgspec.json.Decoder().decode, never):
        assert repr(read(typed)) == repr(chunked)


def test_a_number_split_across_chunks_is_read_whole():
    # given top-level numbers that the reader's chunks cut in two
    text = "[1234567, -98765, 3.25e10, 7, 1.5e-3]"
    # when the array is read in chunks of 4 characters
    with mock.patch.object(parse, "_CHUNK", 4):
        values = [v for _, v in parse.iter_json_array(io.StringIO(text))]
    # then each number is read whole
    assert values == [1234567, -98765, 3.25e10, 7, 1.5e-3]


def test_the_label_studio_record_builders_make_what_init_makes():
    # given records made by the shortcut's builders and by the dataclasses' __init__
    segment = label_studio._segment(1.0, 2.5, "dog")
    annotation = label_studio._annotation(
        "ann", "skipped", {"scene": ["park"]}, (segment,), 3.0, "2026-01-02", True
    )
    item = label_studio._item(4, "a", "f" * 64, "rec/a.wav", "a.wav", 9.5, {"k": 1}, (annotation,))
    made = [
        SegmentRecord(1.0, 2.5, "dog"),
        AnnotationRecord(
            annotator="ann",
            state="skipped",
            clip_labels={"scene": ["park"]},
            segments=(segment,),
            lead_time_s=3.0,
            submitted_at="2026-01-02",
            is_reference=True,
        ),
        ItemRecord(
            row=4,
            external_id="a",
            sha256="f" * 64,
            storage_key="rec/a.wav",
            original_name="a.wav",
            duration_s=9.5,
            metadata={"k": 1},
            annotations=(annotation,),
        ),
    ]
    # then they are the same objects: equal, the same fields in the same order, as frozen
    assert hash(segment) == hash(made[0])
    for built, expected in zip([segment, annotation, item], made, strict=True):
        assert type(built) is type(expected)
        assert list(vars(built).items()) == list(vars(expected).items())
        assert [f.name for f in dataclasses.fields(expected)] == list(vars(built))
        assert built == expected
        with pytest.raises(dataclasses.FrozenInstanceError):
            built.row = 1
