"""Probing and decoding of generated audio in every supported format, and of non-audio."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from backend.audio import decoding
from backend.audio.decoding import (
    AudioDecodeError,
    AudioInfo,
    FfmpegMissingError,
    check_tail,
    decode_check,
    iter_blocks,
    probe,
    verify_decoded_frames,
)
from tests.audio_gen import ToneFormat, tone, write_tone

needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
    reason="ffmpeg/ffprobe not installed",
)
ALL_FORMATS: list[ToneFormat] = ["wav", "flac", "ogg", "opus", "mp3", "m4a"]
EXPECTED_CONTENT_TYPES = {
    "wav": "audio/wav",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "opus": "audio/ogg",
    "mp3": "audio/mpeg",
    "m4a": "audio/mp4",
}
EXPECTED_CODECS = {
    "wav": "pcm_s16le",
    "flac": "flac",
    "ogg": "vorbis",
    "opus": "opus",
    "mp3": "mp3",
    "m4a": "aac",
}


def _format_param(fmt: ToneFormat) -> object:
    marks = [needs_ffmpeg] if fmt in ("mp3", "m4a") else []
    return pytest.param(fmt, marks=marks, id=fmt)


FORMAT_PARAMS = [_format_param(fmt) for fmt in ALL_FORMATS]


def _truncate(path: Path, keep_fraction: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_fraction)])
    return path


def _hide_ffmpeg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))


@pytest.mark.parametrize("fmt", FORMAT_PARAMS)
def test_probe_reports_format_and_stream_parameters(tmp_path: Path, fmt: ToneFormat) -> None:
    # Given a 2.5 s stereo 16 kHz file, named without any hint of its format
    path = write_tone(tmp_path / "upload.bin", duration_s=2.5, channels=2, fmt=fmt)

    # When it is probed
    info = probe(path)

    # Then the content decides the format, and the stream parameters are right
    assert info.format == fmt
    assert info.codec == EXPECTED_CODECS[fmt]
    assert info.content_type == EXPECTED_CONTENT_TYPES[fmt]
    assert info.sample_rate_hz == 16000
    assert info.channels == 2
    tolerance_s = 0.0 if fmt in ("wav", "flac", "ogg", "opus") else 0.1
    assert info.duration_s == pytest.approx(2.5, abs=tolerance_s)
    assert info.frames == pytest.approx(info.duration_s * 16000, abs=1)


@pytest.mark.parametrize("fmt", FORMAT_PARAMS)
def test_decode_check_accepts_intact_files(tmp_path: Path, fmt: ToneFormat) -> None:
    # Given an intact mono file
    path = write_tone(tmp_path / f"tone.{fmt}", duration_s=2.0, fmt=fmt)

    # When it is fully decoded
    frames = decode_check(path)

    # Then about 2 s come out (ffmpeg's AAC keeps up to one 1024-frame packet of padding)
    assert frames == pytest.approx(32000, abs=0.05 * 16000)


def test_probe_detects_content_despite_a_misleading_extension(tmp_path: Path) -> None:
    # Given a FLAC file whose name says WAV
    path = write_tone(tmp_path / "really-flac.wav", duration_s=1.0, fmt="flac")

    # When it is probed
    info = probe(path)

    # Then it is reported (and will be served) as FLAC
    assert (info.format, info.content_type) == ("flac", "audio/flac")


@needs_ffmpeg
def test_probe_recognises_mp3_without_id3_tag_by_frame_sync(tmp_path: Path) -> None:
    # Given an MP3 stripped of its ID3 tag, so it starts with a 0xFFEx frame header
    tagged = write_tone(tmp_path / "tagged.mp3", duration_s=1.0, fmt="mp3")
    bare = tmp_path / "bare.bin"
    strip_tag = ["-c", "copy", "-id3v2_version", "0", "-f", "mp3"]
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(tagged), *strip_tag, str(bare)], check=True)
    assert bare.read_bytes()[:3] != b"ID3"

    # When it is probed
    info = probe(bare)

    # Then it is still recognised as MP3
    assert info.format == "mp3"
    assert info.duration_s == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize(
    ("content", "expected_message"),
    [
        (b"just some notes, definitely not audio\n" * 20, "not an audio file"),
        (np.random.default_rng(7).bytes(10_000), "not an audio file"),
        (b"\x89PNG\r\n\x1a\n" + bytes(200), "not an audio file"),
        (b"\x00\x00\x00\x18ftypheic" + bytes(200), "not an audio file"),
    ],
    ids=["text", "random-bytes", "png", "heic"],
)
def test_probe_rejects_non_audio_with_a_clear_message(
    tmp_path: Path, content: bytes, expected_message: str
) -> None:
    # Given a file that is not audio, named as if it were
    path = tmp_path / "song.wav"
    path.write_bytes(content)

    # When it is probed, then it is rejected with a sentence saying so
    with pytest.raises(AudioDecodeError, match=expected_message):
        probe(path)


def test_probe_names_known_but_unsupported_formats(tmp_path: Path) -> None:
    # Given an AIFF file (real audio, but not a format we accept)
    path = tmp_path / "take.aiff"
    sf.write(path, tone(duration_s=0.5), 16000, format="AIFF")

    # When it is probed, then the message names the format instead of "not audio"
    with pytest.raises(AudioDecodeError, match=r"unsupported audio format \(AIFF\)"):
        probe(path)


def test_probe_rejects_an_empty_file(tmp_path: Path) -> None:
    # Given a 0-byte file
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")

    # When it is probed, then it is rejected as zero-length
    with pytest.raises(AudioDecodeError, match="zero-length audio"):
        probe(path)


def test_probe_rejects_a_wav_with_no_frames(tmp_path: Path) -> None:
    # Given a well-formed WAV header with an empty data chunk
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros((0, 1), dtype=np.float32), 16000)

    # When it is probed, then it is rejected as zero-length
    with pytest.raises(AudioDecodeError, match="zero-length audio"):
        probe(path)


@pytest.mark.parametrize("fmt", ["wav", "flac", pytest.param("mp3", marks=needs_ffmpeg)])
def test_decode_check_rejects_a_file_cut_in_half(tmp_path: Path, fmt: ToneFormat) -> None:
    # Given a 6 s file with its second half of bytes missing
    path = _truncate(write_tone(tmp_path / f"cut.{fmt}", duration_s=6.0, fmt=fmt))

    # When it is fully decoded, then the truncation is reported
    with pytest.raises(AudioDecodeError, match="corrupt or truncated audio"):
        decode_check(path)


@pytest.mark.parametrize("fmt", ["wav", "flac", pytest.param("mp3", marks=needs_ffmpeg)])
def test_check_tail_rejects_a_file_cut_in_half(tmp_path: Path, fmt: ToneFormat) -> None:
    # Given a 6 s file with its second half of bytes missing
    path = _truncate(write_tone(tmp_path / f"cut.{fmt}", duration_s=6.0, fmt=fmt))

    # When only its last second is decoded, then the truncation is already visible
    with pytest.raises(AudioDecodeError, match="corrupt or truncated audio"):
        check_tail(path, tail_s=1.0)


@pytest.mark.parametrize("fmt", FORMAT_PARAMS)
def test_check_tail_accepts_intact_files(tmp_path: Path, fmt: ToneFormat) -> None:
    # Given an intact 4 s file
    path = write_tone(tmp_path / f"ok.{fmt}", duration_s=4.0, fmt=fmt)

    # When its last second is decoded
    frames = check_tail(path, tail_s=1.0)

    # Then about a second comes out (lossy lengths are estimates, seeking too)
    assert frames == pytest.approx(16000, rel=0.0 if fmt in ("wav", "flac") else 0.1)


@needs_ffmpeg
def test_ffmpeg_errors_surface_with_stderr_tail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a truncated FLAC that is forced down the ffmpeg path
    path = _truncate(write_tone(tmp_path / "cut.flac", duration_s=6.0, fmt="flac"))
    info = probe(path)
    monkeypatch.setattr(decoding, "_open_soundfile", lambda _path: "refused for the test")

    # When it is decoded, then ffmpeg's complaint is part of the error
    with pytest.raises(AudioDecodeError, match=r"corrupt or truncated audio.*ffmpeg: .*flac"):
        decode_check(path, info)


@needs_ffmpeg
def test_probe_counts_frames_of_a_flac_without_length_in_header(tmp_path: Path) -> None:
    # Given a FLAC written to a pipe, so its STREAMINFO states no total length
    wav_path = write_tone(tmp_path / "source.wav", duration_s=1.5, fmt="wav")
    flac_path = tmp_path / "streamed.flac"
    with flac_path.open("wb") as out:
        subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(wav_path), "-f", "flac", "pipe:1"],
            stdout=out,
            check=True,
        )

    # When it is probed and decoded
    info = probe(flac_path)
    frames = decode_check(flac_path, info)

    # Then the length is counted exactly
    assert info.frames == frames == 24000


@pytest.mark.parametrize("fmt", ["wav", pytest.param("mp3", marks=needs_ffmpeg)])
def test_iter_blocks_yields_float32_frames_by_channels(tmp_path: Path, fmt: ToneFormat) -> None:
    # Given a 1 s stereo file (libsndfile path for WAV, ffmpeg path for MP3)
    path = write_tone(tmp_path / f"stereo.{fmt}", duration_s=1.0, channels=2, fmt=fmt)

    # When it is streamed in blocks of 1000 frames
    blocks = list(iter_blocks(path, block_frames=1000))

    # Then every block is float32 (frames, 2), all full except the last
    assert all(block.dtype == np.float32 and block.ndim == 2 for block in blocks)
    assert all(block.shape[1] == 2 for block in blocks)
    assert all(len(block) == 1000 for block in blocks[:-1])
    assert 0 < len(blocks[-1]) <= 1000
    assert sum(len(block) for block in blocks) == pytest.approx(16000, abs=0.02 * 16000)


def test_iter_blocks_matches_a_whole_file_read(tmp_path: Path) -> None:
    # Given a stereo WAV
    path = write_tone(tmp_path / "stereo.wav", duration_s=1.0, channels=2)

    # When it is streamed and concatenated
    streamed = np.concatenate(list(iter_blocks(path, block_frames=777)))

    # Then it equals reading the whole file at once
    expected, _ = sf.read(path, dtype="float32", always_2d=True)
    np.testing.assert_array_equal(streamed, expected)


@needs_ffmpeg
def test_closing_iter_blocks_early_kills_ffmpeg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a long MP3 being streamed through ffmpeg, with the child process recorded
    path = write_tone(tmp_path / "long.mp3", duration_s=30.0, fmt="mp3")
    info = probe(path)
    started: list[subprocess.Popen[bytes]] = []
    real_popen = subprocess.Popen

    def recording_popen(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        process: subprocess.Popen[bytes] = real_popen(*args, **kwargs)  # type: ignore[call-overload]
        started.append(process)
        return process

    monkeypatch.setattr(subprocess, "Popen", recording_popen)
    blocks = iter_blocks(path, block_frames=1024, info=info)

    # When the consumer stops after the first block
    next(blocks)
    blocks.close()

    # Then the ffmpeg child has been reaped
    assert len(started) == 1
    assert started[0].returncode is not None


@pytest.mark.parametrize("fmt", [pytest.param("mp3", id="mp3"), pytest.param("m4a", id="m4a")])
def test_probe_raises_ffmpeg_missing_for_mp3_and_m4a(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: ToneFormat
) -> None:
    # Given an MP3/M4A file (encoded while ffmpeg was available)...
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is needed to create the file")
    path = write_tone(tmp_path / "upload.bin", duration_s=1.0, fmt=fmt)
    # ...and then no ffmpeg/ffprobe on PATH
    _hide_ffmpeg(monkeypatch, tmp_path)

    # When it is probed, then the error says ffmpeg is what is missing
    with pytest.raises(FfmpegMissingError, match="need ffmpeg"):
        probe(path)


def test_lossless_formats_do_not_need_ffmpeg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a FLAC file and no ffmpeg on PATH
    path = write_tone(tmp_path / "tone.flac", duration_s=1.0, fmt="flac")
    _hide_ffmpeg(monkeypatch, tmp_path)

    # When it is probed and decoded, then libsndfile alone suffices
    assert decode_check(path) == 16000


def _info(fmt: str, frames: int) -> AudioInfo:
    return AudioInfo(
        format=fmt,
        codec="test",
        duration_s=frames / 1000,
        sample_rate_hz=1000,
        channels=1,
        frames=frames,
        content_type="audio/test",
    )


def test_verify_decoded_frames_is_exact_for_lossless_and_lenient_for_lossy() -> None:
    # Given headers promising 10 000 frames
    wav, mp3 = _info("wav", 10_000), _info("mp3", 10_000)

    # When decodes come up slightly or far short, then only what breaks the rule fails
    verify_decoded_frames(wav, 10_000)
    verify_decoded_frames(mp3, 9_000)
    with pytest.raises(AudioDecodeError, match=r"stopped at 10\.0 s of 10\.0 s"):
        verify_decoded_frames(wav, 9_999)
    with pytest.raises(AudioDecodeError, match="corrupt or truncated"):
        verify_decoded_frames(mp3, 8_999)
    with pytest.raises(AudioDecodeError, match="zero-length audio"):
        verify_decoded_frames(mp3, 0)
