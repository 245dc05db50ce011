"""Audio probing and streaming decode: soundfile for WAV/FLAC/Ogg, the ffmpeg CLI for MP3/M4A.

Pure Python + numpy + soundfile + subprocess; no Django, no torch, no librosa.

The container is identified from the file's first bytes, never from its name, and that
verdict is passed to ffprobe/ffmpeg as a forced demuxer (`-f`), so a crafted upload can't
steer them into playlist or concat demuxers that open other files or URLs.

MP3 always goes through ffmpeg although libsndfile >= 1.1 decodes it (about 1.7x faster):
its mpg123 backend prints warnings straight to the process's stderr, and soundfile's
`blocks()` zero-pads a truncated MP3 up to the length its Xing header promised.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import soundfile as sf

SUPPORTED_FORMATS: tuple[str, ...] = ("wav", "flac", "ogg", "opus", "mp3", "m4a")

_CONTENT_TYPES: dict[str, str] = {
    "wav": "audio/wav",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "opus": "audio/ogg",
    "mp3": "audio/mpeg",
    "m4a": "audio/mp4",
}
_SOUNDFILE_FORMATS = frozenset({"wav", "flac", "ogg", "opus"})
_FFMPEG_DEMUXERS: dict[str, str] = {
    "wav": "wav",
    "flac": "flac",
    "ogg": "ogg",
    "opus": "ogg",
    "mp3": "mp3",
    "m4a": "mov",
}
# Headers of these formats state the exact frame count; compressed ones only estimate it.
_EXACT_LENGTH_FORMATS = frozenset({"wav", "flac"})
# Lossy durations come from headers or bitrate guesses (encoder delay, padding, VBR without
# a Xing table), so only a loss well beyond that noise counts as truncation.
_MIN_COMPRESSED_FRACTION = 0.9
_SOUNDFILE_CODECS: dict[str, str] = {
    "PCM_U8": "pcm_u8",
    "PCM_S8": "pcm_s8",
    "PCM_16": "pcm_s16le",
    "PCM_24": "pcm_s24le",
    "PCM_32": "pcm_s32le",
    "FLOAT": "pcm_f32le",
    "DOUBLE": "pcm_f64le",
    "ULAW": "pcm_mulaw",
    "ALAW": "pcm_alaw",
    "VORBIS": "vorbis",
    "OPUS": "opus",
}
# libsndfile reports SF_COUNT_MAX frames for a FLAC whose STREAMINFO omits the length.
_UNKNOWN_FRAMES_THRESHOLD = 2**62
_SNIFF_BYTES = 4096
_STDERR_TAIL_CHARS = 600
_FFPROBE_TIMEOUT_S = 120.0
_ISO_BMFF_IMAGE_BRANDS = frozenset({b"heic", b"heix", b"mif1", b"msf1", b"avif", b"avis"})
_UNSUPPORTED_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x1aE\xdf\xa3", "WebM/Matroska"),
    (0, b"caff", "CAF"),
    (0, b"#!AMR", "AMR"),
    (0, b"wvpk", "WavPack"),
    (0, b"0&\xb2u\x8ef\xcf\x11", "WMA/ASF"),
    (8, b"AIFF", "AIFF"),
    (8, b"AIFC", "AIFF-C"),
)
# After an input seek, ffmpeg's first MP3 frames lack the bits they borrow from earlier
# frames (the bit reservoir) and AAC lacks the previous frame's overlap: its first ~2300
# samples are wrong. Seeking this much earlier and dropping it makes the window exact (MP3)
# or as close as AAC's random noise substitution allows.
_FFMPEG_SEEK_PREROLL_S = 0.2
_MISSING_FFMPEG_MESSAGE = "MP3/M4A need ffmpeg, which is not installed: apt-get install ffmpeg"


class AudioDecodeError(Exception):
    """The file is not audio we can use; `str(error)` is a sentence fit to show the uploader."""


class FfmpegMissingError(AudioDecodeError):
    """The file needs ffmpeg/ffprobe (MP3, M4A, anything libsndfile refuses); none is on PATH."""


@dataclass(frozen=True)
class AudioInfo:
    """What a header probe learned about one audio file.

    `frames` is exact for WAV/FLAC/Ogg read by libsndfile and `round(duration_s *
    sample_rate_hz)` for files probed by ffprobe; for a WAV whose data chunk promises more
    than the file holds it is the promised count, so `decode_check` reports the truncation.
    """

    format: str
    codec: str
    duration_s: float
    sample_rate_hz: int
    channels: int
    frames: int
    content_type: str


_Blocks = Generator[npt.NDArray[np.float32], None, None]


class _DecodeFailure(AudioDecodeError):
    """Internal: a decoder gave up part-way; `iter_blocks` adds where it stopped."""


def probe(path: str | os.PathLike[str]) -> AudioInfo:
    """Identify the file by content and read its header (no full decode).

    Raises AudioDecodeError for non-audio, empty or unusable files, FfmpegMissingError when
    the file needs ffmpeg and it is absent, and OSError when the path can't be read.
    Exception: a FLAC/Ogg whose header states no length is decoded once to count frames.
    """
    audio_path = Path(path)
    if audio_path.stat().st_size == 0:
        raise AudioDecodeError("zero-length audio: the file is empty (0 bytes)")
    audio_format, codec_hint = _sniff(audio_path)
    if audio_format in _SOUNDFILE_FORMATS:
        opened = _open_soundfile(audio_path)
        if isinstance(opened, str):
            # libsndfile refuses some valid files (MP3-in-WAV, Ogg FLAC): ffmpeg may not.
            if _which("ffprobe") is None or _which("ffmpeg") is None:
                raise AudioDecodeError(f"not a readable {audio_format} file ({opened})")
        else:
            with opened:
                return _checked(_info_from_soundfile(opened, audio_path, audio_format))
    return _checked(_probe_with_ffprobe(audio_path, audio_format, codec_hint))


def iter_blocks(
    path: str | os.PathLike[str],
    *,
    block_frames: int = 65536,
    info: AudioInfo | None = None,
) -> Generator[npt.NDArray[np.float32], None, None]:
    """Stream the whole file as float32 arrays of shape (frames, channels), values ~[-1, 1].

    Every block but the last has `block_frames` frames. Memory stays O(block_frames).
    Pass `info` from an earlier `probe` to skip probing again. Closing the generator early
    kills any ffmpeg child. Raises AudioDecodeError (lazily, while iterating) when
    decoding fails part-way.
    """
    if block_frames <= 0:
        raise ValueError(f"block_frames must be positive, got {block_frames}")
    audio_path = Path(path)
    info = info if info is not None else probe(audio_path)
    source = _block_source(audio_path, info, block_frames)
    decoded_frames = 0
    # Closing this generator does not close `source`; without this an ffmpeg child would
    # keep running until garbage collection.
    with contextlib.closing(source):
        try:
            for block in source:
                decoded_frames += len(block)
                yield block
        except _DecodeFailure as failure:
            stopped_s = decoded_frames / info.sample_rate_hz
            raise AudioDecodeError(
                f"corrupt or truncated audio: decoding stopped at {stopped_s:.1f} s "
                f"of {info.duration_s:.1f} s ({failure})"
            ) from failure


def _block_source(
    path: Path, info: AudioInfo, block_frames: int, *, start_frame: int = 0
) -> _Blocks:
    """libsndfile when it reads this file (the same test `probe` made), else ffmpeg."""
    if info.format in _SOUNDFILE_FORMATS:
        opened = _open_soundfile(path)
        if not isinstance(opened, str):
            return _soundfile_blocks(opened, block_frames, start_frame=start_frame)
    return _ffmpeg_blocks(path, info, block_frames, start_frame=start_frame)


def decode_check(path: str | os.PathLike[str], info: AudioInfo | None = None) -> int:
    """Decode the whole file once and return the number of frames decoded.

    Raises AudioDecodeError when decoding fails, yields nothing, or stops short of the
    header (see `verify_decoded_frames`).
    """
    info = info if info is not None else probe(path)
    decoded_frames = sum(len(block) for block in iter_blocks(path, info=info))
    verify_decoded_frames(info, decoded_frames)
    return decoded_frames


def verify_decoded_frames(info: AudioInfo, decoded_frames: int) -> None:
    """Raise AudioDecodeError unless a full decode of `decoded_frames` matches the header.

    WAV/FLAC must deliver every frame promised; lossy formats at least 90% of the probed
    length, since their frame count is an estimate (encoder delay, padding, bitrate guess).
    """
    if decoded_frames <= 0:
        raise AudioDecodeError("zero-length audio: no samples could be decoded")
    if info.format in _EXACT_LENGTH_FORMATS:
        minimum_frames = float(info.frames)
    else:
        minimum_frames = _MIN_COMPRESSED_FRACTION * info.frames
    if decoded_frames < minimum_frames:
        raise AudioDecodeError(
            f"corrupt or truncated audio: decoding stopped at "
            f"{decoded_frames / info.sample_rate_hz:.1f} s of {info.duration_s:.1f} s"
        )


def check_tail(
    path: str | os.PathLike[str], info: AudioInfo | None = None, *, tail_s: float = 10.0
) -> int:
    """Seek to the last `tail_s` seconds and decode them; returns the frames decoded there.

    A cheap truncation check for upload time (truncation shows at the end). WAV/FLAC must
    deliver every promised tail frame; other formats at least one, because their seek
    target is only as good as the estimated duration. Raises AudioDecodeError.
    """
    info = info if info is not None else probe(path)
    audio_path = Path(path)
    start_frame = max(0, info.frames - round(tail_s * info.sample_rate_hz))
    source = _block_source(audio_path, info, 65536, start_frame=start_frame)
    with contextlib.closing(source):
        try:
            decoded_frames = sum(len(block) for block in source)
        except AudioDecodeError as exc:
            raise AudioDecodeError(
                f"corrupt or truncated audio: the last {tail_s:.0f} s do not decode ({exc})"
            ) from exc
    required_frames = info.frames - start_frame if info.format in _EXACT_LENGTH_FORMATS else 1
    if decoded_frames < required_frames:
        raise AudioDecodeError(
            f"corrupt or truncated audio: the file ends before {info.duration_s:.1f} s, "
            f"the length its header promises"
        )
    return decoded_frames


def iter_window_blocks(
    path: str | os.PathLike[str],
    info: AudioInfo,
    *,
    start_s: float,
    duration_s: float,
    block_frames: int = 65536,
) -> Generator[npt.NDArray[np.float32], None, None]:
    """Stream frames [round(start_s * rate), + round(duration_s * rate)) of the file.

    Blocks are float32 (frames, channels) of at most `block_frames` frames; fewer frames
    than asked come out when the window runs past the end. Seeks instead of decoding from
    the start: libsndfile seeks WAV/FLAC/Ogg/Opus; ffmpeg seeks MP3/M4A on its input (`-ss`
    before `-i`) from a little earlier, dropping the pre-roll its decoder needs to settle,
    and stops after the window (`-t`). Raises AudioDecodeError while iterating when decoding
    fails, ValueError for a negative or non-finite window.
    """
    if not (math.isfinite(start_s) and math.isfinite(duration_s)):
        raise ValueError("start_s and duration_s must be finite")
    if start_s < 0 or duration_s < 0 or block_frames <= 0:
        raise ValueError("start_s and duration_s must be >= 0, block_frames positive")
    rate_hz = info.sample_rate_hz
    start_frame = round(start_s * rate_hz)
    wanted_frames = round(duration_s * rate_hz)
    if wanted_frames == 0:
        return
    audio_path = Path(path)
    opened = _open_soundfile(audio_path) if info.format in _SOUNDFILE_FORMATS else "ffmpeg"
    preroll_frames = 0
    if isinstance(opened, str):
        preroll_frames = min(start_frame, round(_FFMPEG_SEEK_PREROLL_S * rate_hz))
        # A little slack: -t rounds to whole frames, and the window is cut exactly below.
        source = _ffmpeg_blocks(
            audio_path,
            info,
            block_frames,
            start_frame=start_frame - preroll_frames,
            duration_s=(preroll_frames + wanted_frames) / rate_hz + 0.05,
        )
    elif start_frame >= opened.frames:
        opened.close()  # the window starts after the end: nothing to read
        return
    else:
        source = _soundfile_blocks(opened, block_frames, start_frame=start_frame)
    with contextlib.closing(source):
        try:
            yield from _frames_between(source, skip=preroll_frames, take=wanted_frames)
        except _DecodeFailure as failure:
            raise AudioDecodeError(
                f"corrupt or truncated audio: cannot decode {duration_s:.2f} s from "
                f"{start_s:.2f} s ({failure})"
            ) from failure


def read_window(
    path: str | os.PathLike[str], info: AudioInfo, *, start_s: float, duration_s: float
) -> npt.NDArray[np.float32]:
    """`iter_window_blocks` gathered into one float32 (frames, channels) array.

    For windows of seconds to minutes: memory is the window's size (a minute of 48 kHz
    stereo is 23 MB). Stream longer spans with `iter_window_blocks`.
    """
    blocks = list(iter_window_blocks(path, info, start_s=start_s, duration_s=duration_s))
    if not blocks:
        return np.zeros((0, info.channels), dtype=np.float32)
    return np.concatenate(blocks)


def tee_blocks(
    blocks: Iterable[npt.NDArray[np.float32]],
    *sinks: Callable[[npt.NDArray[np.float32]], object],
) -> Generator[npt.NDArray[np.float32], None, None]:
    """Yield each block after handing it to every sink: one decode pass, several consumers.

    Sinks must not modify the blocks they are given.
    """
    for block in blocks:
        for sink in sinks:
            sink(block)
        yield block


def _frames_between(blocks: Iterable[npt.NDArray[np.float32]], *, skip: int, take: int) -> _Blocks:
    """The frames [skip, skip + take) of a block stream, stopping as soon as they are out."""
    for block in blocks:
        if skip >= len(block):
            skip -= len(block)
            continue
        part = block[skip : skip + take]
        skip = 0
        take -= len(part)
        yield part
        if take <= 0:
            return


# --- content sniffing -------------------------------------------------------------------


def _sniff(path: Path) -> tuple[str, str]:
    """Return (format, codec hint or "") from the magic bytes, or raise AudioDecodeError."""
    with path.open("rb") as stream:
        head = stream.read(_SNIFF_BYTES)
        id3_bytes = _id3v2_size(head)
        if id3_bytes:
            stream.seek(id3_bytes)
            head = stream.read(_SNIFF_BYTES)
    sniffed = _sniff_container(head)
    if sniffed is not None:
        return sniffed
    for offset, magic, name in _UNSUPPORTED_MAGIC:
        if head[offset : offset + len(magic)] == magic:
            raise AudioDecodeError(
                f"unsupported audio format ({name}); supported: {', '.join(SUPPORTED_FORMATS)}"
            )
    if _is_adts_aac(head):
        raise AudioDecodeError("unsupported audio format (raw AAC/ADTS); wrap it in M4A")
    if id3_bytes or _is_mp3_frame_header(head):
        # An ID3 tag is all but proof of MP3; ffprobe has the final word on the frames.
        return "mp3", "mp3"
    raise AudioDecodeError("not an audio file (unrecognised format)")


def _sniff_container(head: bytes) -> tuple[str, str] | None:
    """Recognise the supported containers other than MP3 from their leading bytes."""
    if head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return "wav", ""
    if head[:4] == b"fLaC":
        return "flac", "flac"
    if head[:4] == b"OggS":
        return _ogg_codec(head)
    if head[4:8] == b"ftyp":
        if head[8:12] in _ISO_BMFF_IMAGE_BRANDS:
            raise AudioDecodeError("not an audio file (HEIF/AVIF image)")
        return "m4a", ""
    return None


def _ogg_codec(head: bytes) -> tuple[str, str]:
    """Read the codec from the first packet of the first Ogg page."""
    if len(head) < 27:
        return "ogg", ""
    packet_start = 27 + head[26]
    packet = head[packet_start : packet_start + 8]
    if packet.startswith(b"OpusHead"):
        return "opus", "opus"
    if packet.startswith(b"\x01vorbis"):
        return "ogg", "vorbis"
    if packet.startswith(b"\x7fFLAC"):
        return "ogg", "flac"
    return "ogg", ""


def _id3v2_size(head: bytes) -> int:
    """Bytes taken by a leading ID3v2 tag (header, body, optional footer), 0 if none."""
    if len(head) < 10 or head[:3] != b"ID3":
        return 0
    body_bytes = 0
    for byte in head[6:10]:
        body_bytes = (body_bytes << 7) | (byte & 0x7F)
    footer_bytes = 10 if head[5] & 0x10 else 0
    return 10 + body_bytes + footer_bytes


def _is_mp3_frame_header(head: bytes) -> bool:
    """True if `head` opens with a plausible MPEG audio frame header (11-bit sync 0xFFE)."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version_bits = (head[1] >> 3) & 0x3
    layer_bits = (head[1] >> 1) & 0x3
    bitrate_index = head[2] >> 4
    sample_rate_index = (head[2] >> 2) & 0x3
    return (
        version_bits != 1
        and layer_bits != 0
        and bitrate_index not in (0, 15)
        and (sample_rate_index != 3)
    )


def _is_adts_aac(head: bytes) -> bool:
    """True for an ADTS header: 12-bit sync 0xFFF followed by layer bits 00."""
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0


# --- libsndfile ---------------------------------------------------------------------------


def _open_soundfile(path: Path) -> sf.SoundFile | str:
    """An open sf.SoundFile, or a str saying why libsndfile can't be used for this file."""
    try:
        sound_file = sf.SoundFile(str(path))
    except sf.LibsndfileError as exc:
        return f"libsndfile: {exc.error_string}"
    if sound_file.frames >= _UNKNOWN_FRAMES_THRESHOLD:
        sound_file.close()
        return "length not stated in the header"
    return sound_file


def _info_from_soundfile(sound_file: Any, path: Path, audio_format: str) -> AudioInfo:
    """Build AudioInfo from an open sf.SoundFile (a WAV may promise more than it holds)."""
    sample_rate_hz = int(sound_file.samplerate)
    frames = int(sound_file.frames)
    if audio_format == "wav":
        frames = max(frames, _wav_promised_frames(path) or 0)
    subtype = str(sound_file.subtype)
    codec = "flac" if audio_format == "flac" else _SOUNDFILE_CODECS.get(subtype, subtype.lower())
    return AudioInfo(
        format=audio_format,
        codec=codec,
        duration_s=frames / sample_rate_hz if sample_rate_hz > 0 else 0.0,
        sample_rate_hz=sample_rate_hz,
        channels=int(sound_file.channels),
        frames=frames,
        content_type=_CONTENT_TYPES[audio_format],
    )


def _wav_promised_frames(path: Path) -> int | None:
    """Frames the RIFF `data` chunk claims; None for RF64 or streaming placeholders.

    libsndfile silently clamps the frame count to the bytes present, which would hide a
    truncated upload, so the claim is read here.
    """
    block_align = 0
    with path.open("rb") as stream:
        if stream.read(12)[:4] != b"RIFF":
            return None
        while len(chunk_header := stream.read(8)) == 8:
            chunk_id = chunk_header[:4]
            chunk_bytes = int.from_bytes(chunk_header[4:], "little")
            if chunk_id == b"data":
                # Recorders that stream write 0 or 0xFFFFFFFF and never come back to fix it.
                if block_align == 0 or chunk_bytes in (0, 0xFFFFFFFF):
                    return None
                return chunk_bytes // block_align
            if chunk_id == b"fmt ":
                fmt_chunk = stream.read(min(chunk_bytes, 64))
                block_align = int.from_bytes(fmt_chunk[12:14], "little")
                chunk_bytes -= len(fmt_chunk)
            stream.seek(chunk_bytes + chunk_bytes % 2, os.SEEK_CUR)
    return None


def _soundfile_blocks(sound_file: Any, block_frames: int, *, start_frame: int = 0) -> _Blocks:
    """Read an open sf.SoundFile from `start_frame` to the end (first empty read)."""
    with sound_file:
        if start_frame:
            try:
                sound_file.seek(start_frame)
            except (sf.LibsndfileError, ValueError) as exc:
                raise _DecodeFailure(f"cannot seek to frame {start_frame}: {exc}") from exc
        while True:
            try:
                block = sound_file.read(block_frames, dtype="float32", always_2d=True)
            except sf.LibsndfileError as exc:
                raise _DecodeFailure(f"libsndfile: {exc.error_string}") from exc
            if len(block) == 0:
                return
            yield block


# --- ffmpeg -------------------------------------------------------------------------------


def _which(tool: str) -> str | None:
    """Absolute path of an executable on PATH, looked up on every call."""
    return shutil.which(tool)


def _require_tool(tool: str) -> str:
    """Absolute path of ffmpeg/ffprobe, or FfmpegMissingError."""
    found = _which(tool)
    if found is None:
        raise FfmpegMissingError(_MISSING_FFMPEG_MESSAGE)
    return found


def _input_url(path: Path) -> str:
    """An explicit file: URL, so names like `http:x` or `concat:a|b` stay local file names."""
    return f"file:{path.resolve()}"


def _probe_with_ffprobe(path: Path, audio_format: str, codec_hint: str) -> AudioInfo:
    """Read stream parameters with ffprobe, forcing the demuxer the sniffer chose."""
    _require_tool("ffmpeg")  # fail now rather than at decode time
    command = [
        _require_tool("ffprobe"),
        *("-v", "error", "-print_format", "json", "-show_format", "-show_streams"),
        *("-f", _FFMPEG_DEMUXERS[audio_format], _input_url(path)),
    ]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=_FFPROBE_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise AudioDecodeError(f"ffprobe gave up on this {audio_format} file (timeout)") from exc
    if result.returncode != 0:
        raise AudioDecodeError(
            f"not a readable {audio_format} file: {_tail(result.stderr) or 'ffprobe failed'}"
        )
    report = json.loads(result.stdout or "{}")
    streams = [s for s in report.get("streams", []) if s.get("codec_type") == "audio"]
    if not streams:
        raise AudioDecodeError("not an audio file (no audio stream)")
    stream = streams[0]
    sample_rate_hz = int(stream.get("sample_rate") or 0)
    channels = int(stream.get("channels") or 0)
    duration_s = _positive_float(stream.get("duration"))
    if duration_s is None:
        duration_s = _positive_float(report.get("format", {}).get("duration"))
    start_s = _positive_float(stream.get("start_time"))
    if audio_format == "mp3" and duration_s is not None and start_s is not None:
        # The mp3 demuxer reports the LAME encoder delay as start_time but still counts it
        # in the duration, although the decoder drops those samples.
        duration_s = max(duration_s - start_s, 0.0) or None
    info = AudioInfo(
        format=audio_format,
        codec=str(stream.get("codec_name") or codec_hint or "unknown"),
        duration_s=duration_s or 0.0,
        sample_rate_hz=sample_rate_hz,
        channels=channels,
        frames=round((duration_s or 0.0) * sample_rate_hz),
        content_type=_CONTENT_TYPES[audio_format],
    )
    if duration_s is None and sample_rate_hz > 0 and channels > 0:
        # No length in the container (e.g. a FLAC written to a pipe): count by decoding.
        frames = sum(len(block) for block in _ffmpeg_blocks(path, info, 65536))
        info = replace(info, frames=frames, duration_s=frames / sample_rate_hz)
    return info


def _ffmpeg_blocks(
    path: Path,
    info: AudioInfo,
    block_frames: int,
    *,
    start_frame: int = 0,
    duration_s: float | None = None,
) -> _Blocks:
    """Decode with an ffmpeg child to interleaved float32 at the probed rate and layout.

    `start_frame` seeks on the input (`-ss` before `-i`: fast, and exact to the sample with
    ffmpeg's default accurate seek); `duration_s` stops the output after that long (`-t`).
    """
    seek = ("-ss", f"{start_frame / info.sample_rate_hz:.6f}") if start_frame else ()
    limit = ("-t", f"{duration_s:.6f}") if duration_s is not None else ()
    # 0:a:0 skips cover-art "video" streams; explicit -ac/-ar pin the layout the caller was
    # promised even if the stream changes parameters midway.
    command = [
        _require_tool("ffmpeg"),
        *("-nostdin", "-v", "error", *seek, "-f", _FFMPEG_DEMUXERS[info.format]),
        *("-i", _input_url(path), "-map", "0:a:0", "-f", "f32le", "-acodec", "pcm_f32le"),
        *("-ac", str(info.channels), "-ar", str(info.sample_rate_hz), *limit, "pipe:1"),
    ]
    # stderr goes to a file: a pipe nobody drains can fill up on a badly damaged file and
    # deadlock ffmpeg while we block on stdout.
    with tempfile.TemporaryFile() as stderr_file:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr_file, bufsize=0
        )
        assert process.stdout is not None
        try:
            # bufsize=0 makes stdout a raw FileIO, so readinto fills our arrays directly.
            stdout = cast(io.RawIOBase, process.stdout)
            yield from _read_pcm_blocks(stdout, info.channels, block_frames)
            returncode = process.wait()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdout.close()
        stderr_file.seek(0)
        errors = _tail(stderr_file.read().decode("utf-8", errors="replace"))
    if returncode != 0 or errors:
        raise _DecodeFailure(f"ffmpeg: {errors or f'exit status {returncode}'}")


def _read_pcm_blocks(
    stream: io.RawIOBase, channels: int, block_frames: int
) -> Iterator[npt.NDArray[np.float32]]:
    """Fill fresh (block_frames, channels) float32 arrays from a raw f32le byte stream."""
    frame_bytes = 4 * channels
    while True:
        # A fresh array per block: consumers may keep blocks, so no buffer is reused.
        block = np.empty((block_frames, channels), dtype="<f4")
        buffer = block.data.cast("B")
        filled = 0
        while filled < len(buffer):
            received = stream.readinto(buffer[filled:])
            if not received:
                break
            filled += received
        buffer.release()
        if filled < frame_bytes:
            return
        yield block[: filled // frame_bytes]
        if filled < block_frames * frame_bytes:
            return


# --- small helpers ------------------------------------------------------------------------


def _checked(info: AudioInfo) -> AudioInfo:
    """Reject streams without channels, sample rate or frames."""
    if info.channels <= 0:
        raise AudioDecodeError("not a usable audio stream: it has 0 channels")
    if info.sample_rate_hz <= 0:
        raise AudioDecodeError("not a usable audio stream: its sample rate is 0 Hz")
    if info.frames <= 0:
        raise AudioDecodeError("zero-length audio: the header promises no samples")
    return info


def _positive_float(value: object) -> float | None:
    """ffprobe numbers arrive as strings, or "N/A"; None unless a positive finite float."""
    try:
        number = float(str(value))
    except ValueError:
        return None
    return number if 0 < number < float("inf") else None


def _tail(text: str) -> str:
    """Last few hundred characters of a tool's stderr, whitespace-trimmed."""
    return text.strip()[-_STDERR_TAIL_CHARS:]
