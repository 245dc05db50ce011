import string

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch

from ml_worker.features import (
    FeatureCache,
    LogMel,
    LogMelConfig,
    count_windows,
    extract_logmel,
    load_audio,
    sha256_file,
    windows,
)
from tests.ml_worker.synth import sine


def test_config_key_is_stable_and_tracks_every_field():
    config = LogMelConfig()
    assert config.key == LogMelConfig().key
    assert config.key == LogMelConfig(fmax_hz=8000.0).key  # None means Nyquist
    assert set(config.key) <= set(string.ascii_lowercase + string.digits + "-")
    others = [
        LogMelConfig(n_mels=32),
        LogMelConfig(hop_length=160),
        LogMelConfig(sample_rate_hz=22050),
        LogMelConfig(fmin_hz=0.0),
        LogMelConfig(log_offset=1e-5),
    ]
    assert len({config.key, *(other.key for other in others)}) == 1 + len(others)
    assert LogMelConfig.from_json(config.to_json()) == config
    assert config.hop_s == pytest.approx(0.02)


def test_config_rejects_impossible_values():
    with pytest.raises(ValueError, match="Nyquist"):
        LogMelConfig(fmax_hz=9000.0)
    with pytest.raises(ValueError, match="n_mels"):
        LogMelConfig(n_mels=0)


def test_logmel_shape_and_dtype():
    config = LogMelConfig()
    signals = torch.from_numpy(np.stack([sine(440.0, duration_s=1.0, sample_rate_hz=16000)] * 3))
    out = LogMel(config)(signals)
    assert out.shape == (3, 64, 1 + 16000 // 320) == (3, 64, 51)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    # The filterbank is fixed, not a learnt or saved weight.
    assert dict(LogMel(config).state_dict()) == {}


@pytest.mark.parametrize("freq_hz", [250.0, 1000.0, 4000.0])
def test_tone_energy_lands_in_its_mel_band(freq_hz):
    config = LogMelConfig()
    signal = sine(freq_hz, duration_s=0.5, sample_rate_hz=config.sample_rate_hz)
    logmel = extract_logmel(signal[None, :], config=config)[0]
    centres_hz = librosa.mel_frequencies(
        n_mels=config.n_mels + 2, fmin=config.fmin_hz, fmax=config.fmax_hz_resolved
    )[1:-1]
    loudest = int(logmel.mean(axis=1).argmax())
    assert loudest == int(np.abs(centres_hz - freq_hz).argmin())
    # ...and far above the bands an octave away.
    far = int(np.abs(centres_hz - freq_hz * 2).argmin())
    assert logmel[loudest].mean() - logmel[far].mean() > 5.0  # natural log: > 20 dB


def test_batching_equals_one_by_one():
    config = LogMelConfig(n_mels=32)
    rng = np.random.default_rng(1)
    signals = (0.1 * rng.standard_normal((5, 8000))).astype(np.float32)
    frontend = LogMel(config)
    batched = frontend(torch.from_numpy(signals))
    single = torch.cat([frontend(torch.from_numpy(s[None, :])) for s in signals])
    torch.testing.assert_close(batched, single, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        extract_logmel(signals, config=config, batch_size=2), batched.numpy(), rtol=1e-5, atol=1e-5
    )
    with pytest.raises(ValueError, match="batch, samples"):
        frontend(torch.from_numpy(signals[0]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_logmel_runs_where_its_buffers_are():
    config = LogMelConfig()
    signals = torch.from_numpy(np.stack([sine(440.0, duration_s=1.0, sample_rate_hz=16000)]))
    frontend = LogMel(config)
    on_gpu = frontend.to("cuda")(signals)
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), LogMel(config)(signals), rtol=1e-4, atol=1e-3)


def test_windows_pad_the_last_window():
    signal = np.arange(1, 26, dtype=np.float32)  # 2.5 s at 10 Hz
    out = windows(signal, sample_rate_hz=10, window_s=1.0, hop_s=1.0)
    assert out.shape == (3, 10)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[2], [21, 22, 23, 24, 25, 0, 0, 0, 0, 0])
    overlapping = windows(signal, sample_rate_hz=10, window_s=1.0, hop_s=0.5)
    assert overlapping.shape == (4, 10)  # starts 0, 5, 10, 15: the last one ends at the end
    np.testing.assert_array_equal(overlapping[1], np.arange(6, 16))
    np.testing.assert_array_equal(overlapping[3], np.arange(16, 26))
    padded = windows(signal[:23], sample_rate_hz=10, window_s=1.0, hop_s=0.5)
    assert padded.shape == (4, 10)
    np.testing.assert_array_equal(padded[3], [16, 17, 18, 19, 20, 21, 22, 23, 0, 0])
    assert windows(signal[:20], sample_rate_hz=10, window_s=1.0, hop_s=1.0).shape == (2, 10)
    short = windows(signal[:3], sample_rate_hz=10, window_s=1.0, hop_s=1.0)
    np.testing.assert_array_equal(short, [[1, 2, 3, 0, 0, 0, 0, 0, 0, 0]])
    assert windows(signal[:0], sample_rate_hz=10, window_s=1.0, hop_s=1.0).shape == (0, 10)
    for n in range(0, 40):
        assert count_windows(n, window_samples=10, hop_samples=5) == len(
            windows(np.zeros(n, np.float32), sample_rate_hz=10, window_s=1.0, hop_s=0.5)
        )


def test_feature_cache_hit_miss_and_invalidation(tmp_path):
    calls: list[str] = []

    def compute(tag: str):
        def run():
            calls.append(tag)
            return np.full((2, 3), len(calls), dtype=np.float32)

        return run

    cache = FeatureCache(tmp_path, LogMelConfig())
    first = cache.get_or_compute("sha-a", compute("a"))
    again = cache.get_or_compute("sha-a", compute("a-again"))
    np.testing.assert_array_equal(first, again)
    assert again.dtype == np.float32
    assert (cache.hits, cache.misses, calls) == (1, 1, ["a"])

    cache.get_or_compute("sha-b", compute("b"))  # another key: a miss
    other_config = FeatureCache(tmp_path, LogMelConfig(n_mels=32))
    other_config.get_or_compute("sha-a", compute("a-32"))  # same key, other config: a miss
    assert calls == ["a", "b", "a-32"]

    assert cache.invalidate("sha-a")
    assert not cache.invalidate("sha-a")
    cache.get_or_compute("sha-a", compute("a-recomputed"))
    assert calls[-1] == "a-recomputed"

    assert not list(tmp_path.rglob("*.tmp"))
    assert cache.prune_other_configs() == [other_config.config_key]
    assert sorted(p.name for p in tmp_path.iterdir()) == [cache.config_key]


def test_feature_cache_recomputes_a_damaged_entry(tmp_path):
    cache = FeatureCache(tmp_path, "test-config")
    cache.get_or_compute("k", lambda: np.ones(4, dtype=np.float32))
    cache.path_for("k").write_bytes(b"not an npy file")
    value = cache.get_or_compute("k", lambda: np.zeros(4, dtype=np.float32))
    np.testing.assert_array_equal(value, np.zeros(4))
    assert cache.misses == 2
    np.testing.assert_array_equal(np.load(cache.path_for("k")), np.zeros(4))


def test_load_audio_mixes_down_resamples_and_reads_a_part(tmp_path):
    left = sine(440.0, duration_s=2.0, sample_rate_hz=22050, amplitude=0.4)
    stereo = np.stack([left, np.zeros_like(left)], axis=1)
    path = tmp_path / "a.wav"
    sf.write(path, stereo, 22050, subtype="FLOAT")

    mono = load_audio(path, sample_rate_hz=16000)
    assert mono.dtype == np.float32
    assert mono.ndim == 1
    assert abs(mono.size - 32000) <= 1
    assert np.abs(mono).max() == pytest.approx(0.2, abs=0.01)  # the mean of the two channels

    both = load_audio(path, sample_rate_hz=22050, mono=False)
    assert both.shape == (2, left.size)
    np.testing.assert_allclose(both[0], left, atol=1e-6)

    part = load_audio(path, sample_rate_hz=22050, mono=False, offset_s=0.5, duration_s=1.0)
    np.testing.assert_allclose(part[0], left[11025:33075], atol=1e-6)


def test_load_audio_uses_librosa_for_other_formats(tmp_path, monkeypatch):
    signal = sine(440.0, duration_s=0.5, sample_rate_hz=16000)
    path = tmp_path / "clip.audio"
    sf.write(path, signal, 16000, format="WAV", subtype="FLOAT")
    calls = []
    real_load = librosa.load

    def spy(*args, **kwargs):
        calls.append(args[0])
        return real_load(*args, **kwargs)

    monkeypatch.setattr(librosa, "load", spy)
    loaded = load_audio(path, sample_rate_hz=16000)
    assert calls == [path]
    np.testing.assert_allclose(loaded, signal, atol=1e-6)


def test_sha256_file(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"abc")
    assert sha256_file(path) == ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
