"""Turning loosely typed JSON values into records, collecting every problem with its path."""

from __future__ import annotations

import io
import itertools
import json
import math
import re
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, TextIO

import msgspec

from backend.dataio.formats.records import (
    AnnotationRecord,
    PredictionRecord,
    ReviewRecord,
    RowError,
    SegmentRecord,
)

ANNOTATION_STATES = ("draft", "submitted", "skipped")
REVIEW_VERDICTS = ("accepted", "rejected", "corrected")
REVIEW_STATES = ("pending", *REVIEW_VERDICTS)


class Problems:
    """Errors found in one row, each with a dotted field path."""

    def __init__(self, row: int) -> None:
        self.row = row
        self.errors: list[RowError] = []

    def add(self, path: str, reason: str) -> None:
        self.errors.append(RowError(self.row, path, reason))


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def number(value: Any, path: str, problems: Problems, *, optional: bool = False) -> float | None:
    if value is None or value == "":
        if not optional:
            problems.add(path, "is required")
        return None
    if isinstance(value, bool):
        problems.add(path, "must be a number")
        return None
    try:
        out = float(value)
    except OverflowError:  # an integer beyond float's range
        problems.add(path, "must be a finite number")
        return None
    except (TypeError, ValueError):
        problems.add(path, f"must be a number, not {value!r}")
        return None
    if not math.isfinite(out):
        problems.add(path, "must be a finite number")
        return None
    return out


def text(value: Any, path: str, problems: Problems, *, max_length: int = 500) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.add(path, "must be a string")
        return ""
    if len(value) > max_length:
        problems.add(path, f"must be at most {max_length} characters")
        return ""
    return value


def optional_text(
    value: Any, path: str, problems: Problems, *, max_length: int = 500
) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    out = text(value, path, problems, max_length=max_length)
    return out or None


# An item's content hash as items store it (backend/audio): 64 lower-case hexadecimal
# characters. The typed shortcuts take no other (a msgspec pattern; ``re.search``, so anchored,
# and ``\Z``: ``$`` would let a final line break through).
SHA256_STORED = r"^[0-9a-f]{64}\Z"
_SHA256_STORED = re.compile(SHA256_STORED)
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def stored_sha256(value: Any) -> bool:
    """Whether ``value`` is a sha256 as items store it, which ``sha256`` gives unchanged."""
    return type(value) is str and _SHA256_STORED.match(value) is not None


def sha256(value: Any, path: str, problems: Problems) -> str | None:
    """An item's sha256, the one check every reader makes: 64 hexadecimal characters, read in
    lower case (as items store it, so ``"ABC..."`` finds the item ``"abc..."``); None when
    absent or empty. Anything else, a number too, is an error: it would never find an item."""
    if value is None or value == "":
        return None
    if type(value) is str and _SHA256.fullmatch(value):
        return value.lower()
    shown = repr(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if len(shown) > 40:
        shown = shown[:36] + "..."
    problems.add(path, f"must be 64 hexadecimal characters (a SHA-256 digest), got {shown}")
    return None


def finite_sum(*values: float) -> bool:
    """Whether the numbers add up to a finite float: none is NaN or infinite, and no integer
    is beyond float's range (JSON allows any integer; ``float()`` of a huge one overflows)."""
    try:
        return math.isfinite(sum(values))
    except OverflowError:
        return False


def nonfinite(value: Any, path: str) -> str | None:
    """The path of the first NaN or infinite number inside a JSON value, or None. Python's
    JSON reader takes ``NaN``, ``Infinity`` and ``1e999``; no database's JSON stores them."""
    kind = type(value)
    if kind is float:
        return None if math.isfinite(value) else path
    if kind is dict:
        for key, item in value.items():
            if type(item) in (float, dict, list):
                found = nonfinite(item, _join(path, str(key)))
                if found is not None:
                    return found
    elif kind is list:
        for i, item in enumerate(value):
            if type(item) in (float, dict, list):
                found = nonfinite(item, _join(path, str(i)))
                if found is not None:
                    return found
    return None


def obj(value: Any, path: str, problems: Problems) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.add(path, "must be an object")
        return {}
    bad = nonfinite(value, path)
    if bad is not None:
        problems.add(bad, "must be a finite number (JSON has no NaN or Infinity)")
        return {}
    return value


def array(value: Any, path: str, problems: Problems) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.add(path, "must be a list")
        return []
    return value


def clip_labels(value: Any, path: str, problems: Problems) -> dict[str, list[str]]:
    """``{"group": ["label", ...]}``; a single label may be given as a string."""
    out: dict[str, list[str]] = {}
    for group, labels in obj(value, path, problems).items():
        if isinstance(labels, str):
            labels = [labels]
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            problems.add(_join(path, str(group)), "must be a list of labels")
            continue
        out[str(group)] = labels
    return out


_NUMBER = (int, float)


def _fast_segment(value: dict[str, Any], scored: bool) -> SegmentRecord | None:
    """The common, well-formed segment without a call per field (imports read millions);
    None sends anything unusual through the checks that name what is wrong."""
    start: Any = value.get("start_s")
    end: Any = value.get("end_s")
    label = value.get("label")
    low, high, seg_text = value.get("low_hz"), value.get("high_hz"), value.get("text") or ""
    score = value.get("score") if scored else None
    if (
        type(start) in _NUMBER
        and type(end) in _NUMBER
        and type(label) is str
        and label
        and (low is None or type(low) in _NUMBER)
        and (high is None or type(high) in _NUMBER)
        and (score is None or type(score) in _NUMBER)
        and type(seg_text) is str
        and len(seg_text) <= 10_000
        and finite_sum(start, end, low or 0, high or 0, score or 0)
    ):
        return SegmentRecord(
            float(start),
            float(end),
            label,
            None if low is None else float(low),
            None if high is None else float(high),
            seg_text,
            None if score is None else float(score),
        )
    return None


def segment(
    value: Any, path: str, problems: Problems, *, scored: bool = False
) -> SegmentRecord | None:
    if not isinstance(value, dict):
        problems.add(path, "must be an object")
        return None
    fast = _fast_segment(value, scored)
    if fast is not None:
        return fast
    before = len(problems.errors)
    start_s = number(value.get("start_s"), _join(path, "start_s"), problems)
    end_s = number(value.get("end_s"), _join(path, "end_s"), problems)
    label = value.get("label")
    if not isinstance(label, str) or not label:
        problems.add(_join(path, "label"), "must be a non-empty string")
    low_hz = number(value.get("low_hz"), _join(path, "low_hz"), problems, optional=True)
    high_hz = number(value.get("high_hz"), _join(path, "high_hz"), problems, optional=True)
    seg_text = text(value.get("text"), _join(path, "text"), problems, max_length=10_000)
    score = None
    if scored:
        score = number(value.get("score"), _join(path, "score"), problems, optional=True)
    if len(problems.errors) > before or start_s is None or end_s is None:
        return None
    return SegmentRecord(
        start_s=start_s,
        end_s=end_s,
        label=str(label),
        low_hz=low_hz,
        high_hz=high_hz,
        text=seg_text,
        score=score,
    )


def segments(value: Any, path: str, problems: Problems) -> tuple[SegmentRecord, ...]:
    out = []
    for i, raw in enumerate(array(value, path, problems)):
        seg = segment(raw, f"{path}.{i}", problems)
        if seg is not None:
            out.append(seg)
    return tuple(out)


_ANNOTATION_KEYS = frozenset(
    (
        "annotator",
        "state",
        "clip_labels",
        "segments",
        "lead_time_s",
        "submitted_at",
        "reviews",
        "is_reference",
        "review_state",
    )
)


def _fast_annotation(value: dict[str, Any]) -> AnnotationRecord | None:
    """The common, well-formed annotation (no reviews, plain clip labels and segments) in
    one pass; None sends anything unusual through the checks that name what is wrong."""
    reviews = value.get("reviews")
    if not _ANNOTATION_KEYS.issuperset(value) or not (reviews is None or reviews == []):
        return None
    annotator = value.get("annotator")
    state = value.get("state", "submitted")
    lead = value.get("lead_time_s", 0.0)
    submitted_at = value.get("submitted_at")
    is_reference = value.get("is_reference", False)
    review_state = value.get("review_state", "pending")
    clip = value.get("clip_labels")
    raw_segments = value.get("segments")
    if not (
        type(annotator) is str
        and annotator
        and len(annotator) <= 150
        and state in ANNOTATION_STATES
        and (lead is None or (type(lead) in _NUMBER and finite_sum(lead)))
        and (submitted_at is None or (type(submitted_at) is str and len(submitted_at) <= 500))
        and type(is_reference) is bool
        and review_state in REVIEW_STATES
        and (clip is None or type(clip) is dict)
        and (raw_segments is None or type(raw_segments) is list)
    ):
        return None
    labels: dict[str, list[str]] = {}
    for group, chosen in (clip or {}).items():
        if type(chosen) is not list or not all(type(x) is str for x in chosen):
            return None
        labels[group] = chosen
    segs = []
    for raw in raw_segments or ():
        seg = _fast_segment(raw, False) if type(raw) is dict else None
        if seg is None:
            return None
        segs.append(seg)
    return AnnotationRecord(
        annotator=annotator,
        state=state,
        clip_labels=labels,
        segments=tuple(segs),
        lead_time_s=float(lead or 0.0),
        submitted_at=submitted_at or None,
        is_reference=is_reference,
        review_state=review_state,
    )


def annotation(value: Any, path: str, problems: Problems) -> AnnotationRecord | None:
    if not isinstance(value, dict):
        problems.add(path, "must be an object")
        return None
    fast = _fast_annotation(value)
    if fast is not None:
        return fast
    annotator = optional_text(
        value.get("annotator"), _join(path, "annotator"), problems, max_length=150
    )
    state = value.get("state", "submitted")
    if state not in ANNOTATION_STATES:
        problems.add(_join(path, "state"), f"must be one of {list(ANNOTATION_STATES)}")
    reviews = []
    for i, raw in enumerate(array(value.get("reviews"), _join(path, "reviews"), problems)):
        rpath = f"{path}.reviews.{i}"
        if not isinstance(raw, dict):
            problems.add(rpath, "must be an object")
            continue
        reviewer = optional_text(raw.get("reviewer"), f"{rpath}.reviewer", problems, max_length=150)
        if reviewer is None:
            problems.add(f"{rpath}.reviewer", "is required")
        verdict = raw.get("verdict")
        if verdict not in REVIEW_VERDICTS:
            problems.add(f"{rpath}.verdict", f"must be one of {list(REVIEW_VERDICTS)}")
        comment = text(raw.get("comment"), f"{rpath}.comment", problems, max_length=10_000)
        if reviewer is not None and verdict in REVIEW_VERDICTS:
            reviews.append(ReviewRecord(reviewer=reviewer, verdict=str(verdict), comment=comment))
    lead = number(
        value.get("lead_time_s", 0.0), _join(path, "lead_time_s"), problems, optional=True
    )
    submitted_at = optional_text(value.get("submitted_at"), _join(path, "submitted_at"), problems)
    is_reference = value.get("is_reference", False)
    if not isinstance(is_reference, bool):
        problems.add(_join(path, "is_reference"), "must be true or false")
    review_state = value.get("review_state", "pending")
    if review_state not in REVIEW_STATES:
        problems.add(_join(path, "review_state"), f"must be one of {list(REVIEW_STATES)}")
    return AnnotationRecord(
        annotator=annotator,
        state=str(state),
        clip_labels=clip_labels(value.get("clip_labels"), _join(path, "clip_labels"), problems),
        segments=segments(value.get("segments"), _join(path, "segments"), problems),
        lead_time_s=lead or 0.0,
        submitted_at=submitted_at,
        reviews=tuple(reviews),
        is_reference=is_reference is True,
        review_state=str(review_state),
    )


def prediction(
    value: Any, path: str, problems: Problems, *, numbered: bool
) -> PredictionRecord | None:
    if not isinstance(value, dict):
        problems.add(path, "must be an object")
        return None
    version: int | None = None
    if numbered:
        raw_version = value.get("model_version")
        if not isinstance(raw_version, int) or isinstance(raw_version, bool):
            problems.add(_join(path, "model_version"), "must be a model version number")
        else:
            version = raw_version
    scores: dict[str, dict[str, float]] = {}
    for group, by_label in obj(
        value.get("clip_scores"), _join(path, "clip_scores"), problems
    ).items():
        gpath = _join(path, f"clip_scores.{group}")
        if not isinstance(by_label, dict):
            problems.add(gpath, "must map labels to scores")
            continue
        scores[str(group)] = {}
        for label, score in by_label.items():
            value_f = number(score, f"{gpath}.{label}", problems)
            if value_f is not None:
                scores[str(group)][str(label)] = value_f
    segs: list[dict[str, Any]] = []
    for i, raw in enumerate(array(value.get("segments"), _join(path, "segments"), problems)):
        seg = segment(
            raw, f"{path}.segments.{i}" if path else f"segments.{i}", problems, scored=True
        )
        if seg is not None:
            # Stored as given (key order, extra keys), with the numbers as numbers.
            kept = dict(raw)
            kept.update(start_s=seg.start_s, end_s=seg.end_s)
            for key in ("score", "low_hz", "high_hz"):
                if kept.get(key) is not None:
                    kept[key] = getattr(seg, key)
            segs.append(kept)
    uncertainty = number(
        value.get("uncertainty"), _join(path, "uncertainty"), problems, optional=True
    )
    return PredictionRecord(
        model_version=version, clip_scores=scores, segments=tuple(segs), uncertainty=uncertainty
    )


def plain_annotations(annotations: tuple[AnnotationRecord, ...]) -> bool:
    """Whether annotations that msgspec decoded straight into records (typed, so numbers are
    finite numbers, strings strings, lists lists) are what ``annotation`` reads from the same
    values. False for anything that needs its checks: they name what is wrong, or normalise
    (an empty annotator to None, a segment's score dropped, -0.0 lead time to 0.0)."""
    for a in annotations:
        who = a.annotator
        lead = a.lead_time_s
        submitted_at = a.submitted_at
        if not (
            (who is None or 0 < len(who) <= 150)
            and a.state in ANNOTATION_STATES
            and a.review_state in REVIEW_STATES
            and (lead or math.copysign(1.0, lead) > 0)
            and (submitted_at is None or 0 < len(submitted_at) <= 500)
        ):
            return False
        for r in a.reviews:
            if not (
                0 < len(r.reviewer) <= 150
                and r.verdict in REVIEW_VERDICTS
                and len(r.comment) <= 10_000
            ):
                return False
        for s in a.segments:
            if not s.label or len(s.text) > 10_000 or s.score is not None:
                return False
    return True


# What a typed decode raises for a value that is not of its type (or no JSON, or a str
# holding a lone surrogate, which UTF-8 cannot encode): the caller reads it the slow way.
DECODE_ERRORS = (msgspec.DecodeError, UnicodeError)


def iter_json_lines(fh: TextIO) -> Iterator[tuple[int, Any] | RowError]:
    """(line number, value) for each non-blank line, or a RowError for a line that is no JSON."""
    for number_, line in enumerate(fh, start=1):
        yield from json_line(number_, line)


_CHUNK = 1 << 16
_DIGITS = "0123456789.eE+-"


class Decoded(NamedTuple):
    """An array element that ``iter_json_array``'s ``typed`` decoder took, and its text (one
    JSON value) for the checks of the usual values where the typed value will not do."""

    value: Any
    text: str


def iter_json_array(
    fh: TextIO, typed: Callable[[str], Any] | None = None
) -> Iterator[tuple[int, Any] | RowError]:
    """(1-based position, value) for each element of a top-level JSON array, read in chunks.

    Only one element is held at a time. A file whose first character is not ``[`` is read
    as JSON Lines, and a single object as a one-element array. After a malformed element
    the rest of the file cannot be trusted, so one RowError ends the iteration.

    With ``typed`` (a decoder that raises one of DECODE_ERRORS for what is not of its type),
    the elements of a file laid out as writers lay it out (``[`` alone on the first line,
    then one element a line, or indented ones) are delimited without decoding them, and one
    that ``typed`` takes comes as a ``Decoded``; so do the lines of a JSON Lines file. The
    rest of any other file, from where its layout stops fitting, goes through the chunked
    reader as before.
    """
    first = fh.readline(_CHUNK)
    if typed is not None and first.strip() == "[":
        yield from _array_lines(fh, typed)
        return
    yield from _array_chunks(first + fh.read(_CHUNK - len(first)), fh, typed)


def _array_chunks(
    buf: str, fh: TextIO, typed: Callable[[str], Any] | None
) -> Iterator[tuple[int, Any] | RowError]:
    """``iter_json_array`` from ``buf``, the first ``_CHUNK`` characters of the file."""
    decoder = json.JSONDecoder()
    pos = 0
    while pos < len(buf) and buf[pos].isspace():
        pos += 1
    if pos < len(buf) and buf[pos] == "{":
        # JSON Lines, or one object: find out by trying to read the whole first line.
        rest = buf[pos:]
        line_end = rest.find("\n")
        if line_end >= 0:
            try:
                decoder.raw_decode(rest[:line_end].strip())
            except json.JSONDecodeError:
                pass
            else:
                yield from _lines_of(buf, fh, typed)
                return
        yield from _single(buf + fh.read())
        return
    if pos >= len(buf) or buf[pos] != "[":
        yield RowError(1, "", "expected a JSON array of tasks (the file does not start with '[')")
        return
    yield from _array_elements(buf, pos + 1, fh, 0)


def _next_element(
    buf: str, pos: int, fh: TextIO, eof: bool, index: int
) -> tuple[str, int, bool] | RowError | None:
    """Past the whitespace and commas between array elements, reading more of ``fh`` as
    needed: (buffer, position of the next element, at end of file); None when the array
    ends there; a RowError when the file ends first. Both array readers step the same way."""
    while True:
        while pos < len(buf) and (buf[pos].isspace() or buf[pos] == ","):
            pos += 1
        if pos < len(buf) or eof:
            break
        more = fh.read(_CHUNK)
        eof = not more
        buf, pos = buf[pos:] + more, 0
    if pos >= len(buf):
        return RowError(index + 1, "", "invalid JSON: the array is not closed with ']'")
    if buf[pos] == "]":
        return None
    return buf, pos, eof


def _array_elements(
    buf: str, pos: int, fh: TextIO, index: int
) -> Iterator[tuple[int, Any] | RowError]:
    """The elements from ``buf[pos:]`` (inside the array, ``index`` elements read) on."""
    decoder = json.JSONDecoder()
    eof = False
    while True:
        step = _next_element(buf, pos, fh, eof, index)
        if not isinstance(step, tuple):  # the array's end, or the file's before it
            if step is not None:
                yield step
            return
        buf, pos, eof = step
        while True:
            try:
                value, end = decoder.raw_decode(buf, pos)
                # a number that the buffer ends in (or in the start of its fraction or
                # exponent) may go on in the next chunk
                complete = eof or not (type(value) in _NUMBER and not buf[end:].lstrip(_DIGITS))
            except json.JSONDecodeError as exc:
                if eof:
                    yield RowError(index + 1, "", f"invalid JSON: {exc.msg}")
                    return
                complete = False
            if complete:
                break
            more = fh.read(_CHUNK)
            eof = not more
            buf, pos = buf[pos:] + more, 0
        index += 1
        yield index, value
        buf, pos = buf[end:], 0
        if len(buf) < _CHUNK and not eof:
            more = fh.read(_CHUNK)
            eof = not more
            buf += more


def _trim(text_: str) -> str:
    """``text_`` without the whitespace and commas around it (between array elements)."""
    text_ = text_.strip()
    while text_[:1] == "," or text_[-1:] == ",":
        text_ = text_.strip(",").strip()
    return text_


_LINE_MAX = 1 << 22  # a longer element (or line) is left to the chunked reader


def _array_lines(fh: TextIO, typed: Callable[[str], Any]) -> Iterator[tuple[int, Any] | RowError]:
    """``iter_json_array`` after a first line ``[``, for elements laid out as writers lay
    them out: each on one line, or indented (from an opening ``{`` or ``[`` to the first
    closing one at the start of a line indented as deep as the opening one's). ``str.find``
    delimits an element, then ``typed`` (or ``json.loads``) must take all of it as one value,
    which is the value the chunked reader reads from the same place. An element delimited
    otherwise (``}, {``, ``]`` after the last element, a malformed one) sends the rest of the
    file, from where that element starts, through the chunked reader."""
    buf, pos, index, eof = "", 0, 0, False
    while True:
        step = _next_element(buf, pos, fh, eof, index)
        if not isinstance(step, tuple):  # the array's end, or the file's before it
            if step is not None:
                yield step
            return
        buf, pos, eof = step
        if pos > _CHUNK:  # keep the buffer short; the line the element starts on stays
            line_start = buf.rfind("\n", 0, pos) + 1
            buf, pos = buf[line_start:], pos - line_start
        # first as one line, then as an indented block
        value: Any = None
        end = -1
        for closing in ("\n", _closing(buf, pos)):
            if closing is None:
                break
            end, buf, eof = _find(buf, pos, closing, fh, eof)
            if end < 0:
                break
            if closing != "\n":
                end += len(closing)
            element = _trim(buf[pos:end])
            try:
                value = Decoded(typed(element), element)
            except DECODE_ERRORS:
                # an indented element's first line is no JSON; another element may be JSON
                # that the typed decoder does not take (NaN, a lone surrogate, 1e400)
                if element in ("{", "["):
                    end = -1
                    continue
                try:
                    value = json.loads(element)
                except json.JSONDecodeError:
                    end = -1
                    continue
            break
        if end < 0:
            yield from _array_elements(buf, pos, fh, index)
            return
        index += 1
        pos = end
        yield index, value


def _closing(buf: str, pos: int) -> str | None:
    """What ends an indented element starting at ``buf[pos]``: a line break, the indentation
    of the element's first line, and the bracket that closes its first one."""
    bracket = {"{": "}", "[": "]"}.get(buf[pos])
    indentation = buf[buf.rfind("\n", 0, pos) + 1 : pos]
    if bracket is None or (indentation and not indentation.isspace()):
        return None
    return "\n" + indentation + bracket


def _find(buf: str, pos: int, what: str, fh: TextIO, eof: bool) -> tuple[int, str, bool]:
    """Where ``what`` is in ``buf`` after ``pos`` (reading on as needed; the end of the file
    ends a last line), or -1; the buffer, grown, and whether the file has ended."""
    start = pos
    while True:
        found = buf.find(what, start)
        if found >= 0:
            return found, buf, eof
        if eof:
            return (len(buf) if what == "\n" else -1), buf, eof
        if len(buf) - pos > _LINE_MAX:
            return -1, buf, eof
        start = max(pos, len(buf) - len(what))
        more = fh.read(_CHUNK)
        eof = not more
        buf += more


def _lines_of(
    head: str, fh: TextIO, typed: Callable[[str], Any] | None
) -> Iterator[tuple[int, Any] | RowError]:
    first_lines = io.StringIO(head)
    # The head may end mid-line: glue its last partial line to the rest of the stream.
    lines = itertools.chain(first_lines, fh)
    pending = ""
    number_ = 0
    for chunk in lines:
        if not chunk.endswith("\n"):
            pending += chunk
            continue
        line, pending = pending + chunk, ""
        number_ += 1
        yield from _typed_line(number_, line, typed)
    if pending:
        yield from _typed_line(number_ + 1, pending, typed)


def _typed_line(
    number_: int, line: str, typed: Callable[[str], Any] | None
) -> Iterator[tuple[int, Any] | RowError]:
    if typed is not None:
        try:
            value = typed(line)
        except DECODE_ERRORS:
            pass
        else:
            yield number_, Decoded(value, line)
            return
    yield from json_line(number_, line)


def json_line(number_: int, line: str) -> Iterator[tuple[int, Any] | RowError]:
    """Line ``number_``'s value, nothing for a blank line, or a RowError for one that is no JSON."""
    if not line.strip():
        return
    try:
        yield number_, json.loads(line)
    except json.JSONDecodeError as exc:
        yield RowError(number_, "", f"invalid JSON: {exc.msg} at column {exc.colno}")


def _single(text_: str) -> Iterator[tuple[int, Any] | RowError]:
    try:
        yield 1, json.loads(text_)
    except json.JSONDecodeError as exc:
        yield RowError(1, "", f"invalid JSON: {exc.msg} at line {exc.lineno}")
