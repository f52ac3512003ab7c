"""Audio front end: every format to mono float32 16 kHz, bad input to a clear error."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from twi_endpoint.audio import decode_audio
from twi_endpoint.errors import AudioTooLongError, AudioTooShortError, UnsupportedAudioError
from twi_endpoint.types import SAMPLE_RATE

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """7 s of one reader (librivox_0870.wav), decoded: the channel and scale tests' speech."""
    return decode_audio((DATA / "librivox_0870.wav").read_bytes()).samples


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point tempfile at an empty folder, so a leftover temp file would be seen."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.mark.parametrize(
    ("name", "fmt", "decoder"),
    [
        ("librivox_0870.wav", "wav", "soundfile"),
        ("jfk.mp3", "mp3", "soundfile"),
        ("jfk.opus", "opus", "soundfile"),
        ("sonnet1.ogg", "ogg", "soundfile"),
        ("sonnet1.webm", "webm", "ffmpeg"),
        ("sonnet1.m4a", "mp4", "ffmpeg"),  # index after the audio: needs the seekable retry
    ],
)
def test_decodes_every_format_to_16k_mono(
    name: str, fmt: str, decoder: str, data_clips: dict, private_tmp: Path
) -> None:
    decoded = decode_audio((DATA / name).read_bytes(), "application/octet-stream", name)
    assert (decoded.format, decoder) == (fmt, decoded.decoder)
    assert decoded.samples.dtype == np.float32 and decoded.samples.ndim == 1
    assert decoded.duration == pytest.approx(data_clips[name].duration_s, abs=0.05)
    assert 0.01 < float(np.abs(decoded.samples).max()) <= 1.0
    assert os.listdir(private_tmp) == []  # the m4a retry cleaned up after itself


def test_resampling_keeps_the_pitch(wav_bytes: Callable[..., bytes]) -> None:
    """A 1 kHz tone at 44.1 kHz stays a 1 kHz tone at 16 kHz (soxr, no aliasing)."""
    rate = 44_100
    t = np.arange(rate * 2) / rate
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    samples = decode_audio(wav_bytes(tone, rate)).samples
    assert len(samples) == 2 * SAMPLE_RATE
    spectrum = np.abs(np.fft.rfft(samples))
    peak_hz = np.argmax(spectrum) * SAMPLE_RATE / len(samples)
    assert peak_hz == pytest.approx(1000, abs=1)


def test_an_offset_is_removed(wav_bytes: Callable[..., bytes]) -> None:
    """A recorder's DC offset is no sound: the decoded audio is the sound alone."""
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = 0.1 * np.sin(2 * np.pi * 440 * t)
    decoded = decode_audio(wav_bytes(tone + 0.05), "audio/wav").samples
    assert abs(float(decoded.mean())) < 1e-6
    assert np.abs(decoded - tone).max() < 2 / 32768  # the sound itself as it was (16-bit)


def test_stereo_is_downmixed(wav_bytes: Callable[..., bytes]) -> None:
    left = 0.5 * np.sin(2 * np.pi * 440 * np.arange(SAMPLE_RATE) / SAMPLE_RATE).astype(np.float32)
    stereo = np.stack([left, left * 0.0], axis=1)  # a tone on the left, nothing on the right
    samples = decode_audio(wav_bytes(stereo)).samples
    assert samples.shape == (SAMPLE_RATE,)
    assert float(np.abs(samples).max()) == pytest.approx(0.25, abs=1e-3)  # (a constant, now removed)


@pytest.mark.parametrize("container", ["wav", "aac"])
def test_a_channel_of_inverted_polarity_does_not_cancel_its_twin(
    container: str, inverted_twin: Callable[[np.ndarray, str], bytes], speech: np.ndarray
) -> None:
    """Averaged as they are, the two channels cancel to silence (an empty transcript, nothing
    uncovered); each channel turned to the loudest one's polarity first, the speech is kept."""
    decoded = decode_audio(inverted_twin(speech, container)).samples
    n = min(len(speech), len(decoded))
    # AAC delays what it encodes (priming samples): line the two up first
    spectrum = np.fft.rfft(decoded[:n], 2 * n) * np.conj(np.fft.rfft(speech[:n], 2 * n))
    lag = int(np.argmax(np.fft.irfft(spectrum)[: SAMPLE_RATE // 4]))
    assert np.corrcoef(speech[: n - lag], decoded[lag:n])[0, 1] > 0.95
    level = float(np.sqrt(np.mean(decoded**2)) / np.sqrt(np.mean(speech**2)))
    assert level == pytest.approx(1.0, abs=0.1)


def test_two_parties_on_two_channels_are_both_kept(
    wav_bytes: Callable[..., bytes], speech: np.ndarray
) -> None:
    """A call recorded one party per channel: channels that do not correlate are averaged as
    they are, whichever way the polarity test turns them."""
    half = len(speech) // 2
    left, right = speech.copy(), -speech.copy()
    left[half:] = 0.0  # the agent speaks first, on the left ...
    right[:half] = 0.0  # ... the caller answers on the right
    decoded = decode_audio(wav_bytes(np.stack([left, right], axis=1))).samples
    assert np.abs(decoded[:half] - left[:half] / 2).max() < 1e-3
    assert np.abs(np.abs(decoded[half:]) - np.abs(right[half:]) / 2).max() < 1e-3


def test_offsets_of_opposite_sign_do_not_turn_quiet_speech_over(
    wav_bytes: Callable[..., bytes], speech: np.ndarray
) -> None:
    """Each channel with its own DC bias, +0.05 and -0.05, under speech in phase at -44 dBFS:
    judged by their raw products the offsets outweigh the speech, and the second channel,
    turned over, cancelled it. Judged about their means, the speech is kept whole."""
    quiet = 0.1 * speech
    decoded = decode_audio(wav_bytes(np.stack([quiet + 0.05, quiet - 0.05], axis=1))).samples
    assert np.abs(decoded - quiet).max() < 1e-3


def test_a_float_recording_written_at_16_bit_scale_is_brought_to_full_scale(
    wav_bytes: Callable[..., bytes], speech: np.ndarray
) -> None:
    """Float samples 32768 times too loud (16-bit values in a float WAV) come back at full
    scale, the same sound; a damaged file's wild sample neither silences the speech around it
    nor, in a recording at its own scale, moves it; a lossy codec's overshoot is left alone."""
    decoded = decode_audio(wav_bytes(speech * 32768, subtype="FLOAT")).samples
    assert float(np.abs(decoded).max()) == pytest.approx(1.0)
    assert np.count_nonzero(np.abs(decoded) >= 1.0) <= 1e-4 * decoded.size + 1  # clipped: the top 0.01 %
    assert np.corrcoef(decoded, speech)[0, 1] > 0.999
    wild = speech * 32768
    wild[SAMPLE_RATE] = 1e9
    rescued = decode_audio(wav_bytes(wild, subtype="FLOAT")).samples
    assert np.sqrt(np.mean(rescued**2)) == pytest.approx(np.sqrt(np.mean(decoded**2)), rel=0.01)
    at_scale = speech.copy()
    at_scale[SAMPLE_RATE] = 1e6
    kept = decode_audio(wav_bytes(at_scale, subtype="FLOAT")).samples
    assert np.abs(np.delete(kept - speech, SAMPLE_RATE)).max() < 1e-3  # its speech untouched
    overshoot = decode_audio((DATA / "twi_35280406.mp3").read_bytes()).samples  # a clipped MP3
    assert 1.1 < float(np.abs(overshoot).max()) < 1.2


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"", "audio/wav", "is empty (0 bytes)"),
        (b"Hello, this is a text file.\nNot audio at all.\n", "text/plain", "is text, not audio"),
        (b'{"inputs": "s3://bucket/audio/a.wav"}', "application/json", "is text, not audio"),
        (b"%PDF-1.4 binary", "application/pdf", "is a PDF document, not audio"),
        (
            bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)),
            "audio/wav",
            "could not decode",
        ),
    ],
)
def test_bad_bodies_name_the_problem(body: bytes, content_type: str, message: str, private_tmp: Path) -> None:
    with pytest.raises(UnsupportedAudioError, match="unsupported audio") as err:
        decode_audio(body, content_type)
    assert message in str(err.value)
    assert content_type in str(err.value) or not body  # the hint is named, to help the caller
    assert os.listdir(private_tmp) == []


def test_truncated_m4a_reports_ffmpeg_reason(private_tmp: Path) -> None:
    body = (DATA / "sonnet1.m4a").read_bytes()[:3000]
    with pytest.raises(UnsupportedAudioError) as err:
        decode_audio(body, "audio/mp4", "x.m4a")
    assert str(err.value).startswith("unsupported audio: could not decode 'x.m4a' (ffmpeg: ")
    assert "moov atom not found" in str(err.value)
    assert os.listdir(private_tmp) == []


def test_truncated_header_is_refused() -> None:
    with pytest.raises(UnsupportedAudioError, match=r"could not decode 'cut\.wav'"):
        decode_audio((DATA / "librivox_0880.wav").read_bytes()[:30], "audio/wav", "cut.wav")


def test_truncated_mp3_keeps_what_is_there() -> None:
    """A cut-off MP3 decodes up to the cut (like every player), it does not crash."""
    body = (DATA / "jfk.mp3").read_bytes()
    decoded = decode_audio(body[: len(body) // 2], "audio/mpeg")
    assert 4.0 < decoded.duration < 7.0


def test_too_short_and_too_long(wav_bytes: Callable[..., bytes]) -> None:
    tenth = wav_bytes(np.zeros(SAMPLE_RATE // 10, dtype=np.float32))
    with pytest.raises(AudioTooShortError, match=r"lasts 0\.10 s"):
        decode_audio(tenth, "audio/wav", min_seconds=0.25)
    with pytest.raises(AudioTooLongError, match="TWI_ASR_MAX_AUDIO_SECONDS"):
        decode_audio((DATA / "jfk.mp3").read_bytes(), "audio/mpeg", max_seconds=5)
    with pytest.raises(AudioTooLongError, match="TWI_ASR_MAX_AUDIO_SECONDS"):  # ffmpeg path
        decode_audio((DATA / "sonnet1.webm").read_bytes(), "audio/webm", max_seconds=5)


def test_missing_ffmpeg_is_explained() -> None:
    with pytest.raises(UnsupportedAudioError, match=r"ffmpeg .* is not installed"):
        decode_audio((DATA / "sonnet1.webm").read_bytes(), "audio/webm", ffmpeg="no-such-ffmpeg-binary")
