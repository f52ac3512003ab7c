"""Cheap refusals (issue 13): bad input is refused with a reason instead of costing memory."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from twi_endpoint import audio
from twi_endpoint.audio import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, decode_audio
from twi_endpoint.errors import UnsupportedAudioError
from twi_endpoint.types import SAMPLE_RATE

_RATE_FIELD = slice(24, 28)  # canonical WAV: "RIFF" size "WAVE" "fmt " size format channels rate


def float_wav_claiming(rate: int, seconds: float = 3.0) -> bytes:
    """A float WAV of ``seconds`` at 16 kHz whose header then claims ``rate`` (the issue's file)."""
    buf = io.BytesIO()
    tone = 0.1 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE)
    sf.write(buf, tone.astype(np.float32), SAMPLE_RATE, format="WAV", subtype="FLOAT")
    body = bytearray(buf.getvalue())
    assert struct.unpack("<I", body[_RATE_FIELD]) == (SAMPLE_RATE,)
    body[_RATE_FIELD] = struct.pack("<I", rate)
    return bytes(body)


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading samples or starting ffmpeg fails the test: the refusal must come first."""

    def forbidden(*_: Any, **__: Any) -> Any:
        raise AssertionError("decoding started")

    monkeypatch.setattr(sf.SoundFile, "read", forbidden)
    monkeypatch.setattr(audio.subprocess, "run", forbidden)


@pytest.mark.parametrize("rate", [4, 8, MIN_SAMPLE_RATE - 1, MAX_SAMPLE_RATE + 1, 1_000_000])
def test_a_header_with_an_implausible_rate_is_refused_before_decoding(rate: int, no_decoding: None) -> None:
    body = float_wav_claiming(rate)
    assert 190_000 < len(body) < 195_000  # 191 KB, as in the issue

    with pytest.raises(UnsupportedAudioError) as err:
        decode_audio(body, "audio/wav", "forged.wav")

    message = str(err.value)
    assert message.startswith("unsupported audio: 'forged.wav' claims a sample rate of ")
    assert f" {rate} Hz" in message
    assert f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz" in message


@pytest.mark.parametrize("rate", [MIN_SAMPLE_RATE, 8_000, MAX_SAMPLE_RATE])
def test_plausible_rates_still_decode(rate: int) -> None:
    decoded = decode_audio(float_wav_claiming(rate, seconds=0.5), "audio/wav")
    assert decoded.decoder == "soundfile"
    assert decoded.duration == pytest.approx(0.5 * SAMPLE_RATE / rate, rel=1e-3)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg to make the video")
@pytest.mark.parametrize(("suffix", "codec"), [(".mp4", "mpeg4"), (".webm", "libvpx")])
def test_a_video_without_audio_says_so(tmp_path: Path, suffix: str, codec: str) -> None:
    video = tmp_path / f"silent{suffix}"
    black = ["-f", "lavfi", "-i", "color=c=black:s=64x64:d=1"]  # one second of video, no sound
    made = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", *black, "-c:v", codec, str(video)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"this ffmpeg cannot encode {codec}: {made.stderr.decode(errors='replace')}")

    with pytest.raises(UnsupportedAudioError) as err:
        decode_audio(video.read_bytes(), "video/mp4", video.name)

    assert str(err.value).startswith(f"unsupported audio: 'silent{suffix}' (")
    assert "has no audio stream" in str(err.value)
    assert "trailing '?'" not in str(err.value)
