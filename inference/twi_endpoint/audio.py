"""Request bytes -> mono float32 at 16 kHz.

The content type is only a hint (clients send ``application/octet-stream`` or
``audio/x-audio`` for anything), so the bytes are sniffed (``twi_contract.sniff``, the
table submit checks uploads with). libsndfile (via soundfile) reads wav/flac/ogg/mp3
in-process; everything else (m4a/aac, webm, amr, ...) goes through ffmpeg over stdin/stdout.
MP4-family files whose index (``moov``) sits after the audio cannot be demuxed from a pipe;
only those go through a private temporary directory that is always removed (straight away
when the box headers show the index last, :func:`index_after_audio`; else after the pipe failed).

Cheap refusals come first: a header whose sample rate no recording has (a damaged or forged
WAV that claims 8 Hz would "decode" to hours of audio and gigabytes of memory) is refused
before a sample is read, and a container with no audio stream (a silent video) says so.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, replace
from typing import Final

import numpy as np
from twi_contract import describe_non_audio, sniff

from twi_endpoint.errors import AudioTooLongError, AudioTooShortError, UnsupportedAudioError
from twi_endpoint.types import SAMPLE_RATE

logger = logging.getLogger(__name__)

SOXR_QUALITY: Final = "HQ"  # soxr "high quality": 20-bit precision, flat passband to 0.91 Nyquist
_TEXT_PROBE_BYTES: Final = 512  # bytes inspected to decide the body is something else than audio
# Formats libsndfile cannot read: go straight to ffmpeg.
_FFMPEG_ONLY: Final = frozenset({"mp4", "3gp", "webm", "amr", "aac", "asf", "avi"})
# Formats that may need a seekable input (index at the end of the file).
_NEEDS_SEEK: Final = frozenset({"mp4", "3gp"})
# Sample rates a real recording can have (telephone 8 kHz down to 4 kHz, hi-res audio up to
# 384 kHz); a header outside them is damaged, and is refused before decoding.
MIN_SAMPLE_RATE: Final = 4_000
MAX_SAMPLE_RATE: Final = 384_000


@dataclass(frozen=True)
class DecodedAudio:
    samples: np.ndarray  # mono float32 at SAMPLE_RATE
    format: str  # sniffed container, "unknown" when nothing matched
    decoder: str  # "soundfile" or "ffmpeg"

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def decode_audio(
    data: bytes | bytearray | memoryview,
    content_type: str | None = None,
    name: str | None = None,
    *,
    max_seconds: float = float("inf"),
    min_seconds: float = 0.0,
    ffmpeg: str = "ffmpeg",
    timeout: float = 600.0,
) -> DecodedAudio:
    """Decode any audio ffmpeg or libsndfile reads to mono float32 at 16 kHz.

    ``content_type`` and ``name`` only make error messages precise; the bytes decide.
    Raises :class:`UnsupportedAudioError` (also for a header with a sample rate outside
    ``MIN_SAMPLE_RATE``..``MAX_SAMPLE_RATE`` and for a file without an audio stream),
    :class:`AudioTooShortError` or :class:`AudioTooLongError` with a message that names the
    input and the problem.
    """
    data = bytes(data)
    what = _describe(name, content_type, len(data))
    if not data:
        raise UnsupportedAudioError(f"unsupported audio: {what} is empty (0 bytes)")
    kind = sniff(data)
    if kind is None:
        not_audio = describe_non_audio(data[:_TEXT_PROBE_BYTES])
        if not_audio is not None:
            raise UnsupportedAudioError(f"unsupported audio: {what} is {not_audio}, not audio")
        kind = "unknown"

    decoded: DecodedAudio | None = None
    if kind not in _FFMPEG_ONLY:
        samples = _decode_soundfile(data, what, max_seconds)
        if samples is not None:
            decoded = DecodedAudio(samples, kind, "soundfile")
    if decoded is None:
        samples = _decode_ffmpeg(data, what, kind, ffmpeg, max_seconds, timeout)
        decoded = DecodedAudio(samples, kind, "ffmpeg")
    decoded = replace(decoded, samples=without_offset(at_full_scale(decoded.samples)))

    duration = decoded.duration
    if duration > max_seconds:
        raise AudioTooLongError(
            f"audio too long: {what} lasts more than {max_seconds:g} s, the configured maximum "
            "(TWI_ASR_MAX_AUDIO_SECONDS)"
        )
    if duration < min_seconds:
        raise AudioTooShortError(
            f"audio too short: {what} lasts {duration:.2f} s, less than the {min_seconds:g} s "
            "needed to hold a word"
        )
    return decoded


def without_offset(samples: np.ndarray) -> np.ndarray:
    """``samples`` less their mean: a constant offset (a cheap microphone's or sound card's
    DC bias) is no sound, but every level the endpoint reads counts it as one.

    The silence gate's loudest frame, the VAD's raise of a quiet recording
    (``segmentation.vad_gain``, from its loudest sound) and its loud frames all read an
    offset as loudness: a quiet recording (four shipped clips with pauses, 30 dB down) with
    an offset of 0.05 was not raised, Silero heard 2.2 s of its 23.2 s of speech, and 61 of
    68 words were lost without a trace in ``uncovered_speech`` (tests/inference
    ``test_an_offset_does_not_hide_a_quiet_recording``); without the offset, 2 deletions.
    Four bench inputs of seed 0 with that offset: 93 errors against 37 without it; the
    offset taken only from what the levels and the VAD read (Whisper hearing it), 50, five
    words of ``short_pauses`` lost; taken from every stage, 37. The bench's inputs, built
    from the recordings of ../shared, carry offsets of their own (-81 to -52 dBFS):
    removed, on the 54 saved runs of seeds 0-2 and 30-32 their text moved as much as any
    change in the last bits does (errors 1079 -> 1066), and a shipped LibriVox clip (-42.5
    dBFS) reads "ill-sposed" for "ill-disposed", as it does with one bit of dither or
    shifted by one sample. An offset that drifts within a recording is left.
    """
    if samples.size == 0:
        return samples
    return (samples - np.float32(samples.mean(dtype=np.float64))).astype(np.float32, copy=False)


# Beyond this level a recording was written at another scale than full scale (1.0); below
# it, a lossy codec's reconstruction of a clipped recording overshoots (Common Voice Twi
# MP3s of ../shared peak at 1.04-1.16), and Whisper reads a recording 64 times too loud word
# for word.
OVER_FULL_SCALE: Final = 2.0
LOUDEST_SHARE: Final = 1e-4  # the level: what all but this share of the samples stay under


def at_full_scale(samples: np.ndarray) -> np.ndarray:
    """``samples`` brought back to full scale when their level lies beyond ``OVER_FULL_SCALE``.

    A 32-bit float WAV holds any value, and a common way to write one puts 16-bit sample
    values in it (``scipy.io.wavfile.write`` of a float array at the scale of 32768). Read as
    they are, every level is 90 dB too loud: Whisper wrote nothing for 7 s of clear speech
    (``uncovered_speech`` 0.1-7.1 s; 256 times too loud it already misread, 1024 times it
    wrote "And And"). Divided by its level, the recording is itself again, the few samples
    above the level clipped; clipped as a whole to full scale, as a 16-bit decoder would
    (openai-whisper, faster-whisper), its speech would be a square wave. The level is what
    all but ``LOUDEST_SHARE`` of the samples stay under, not the peak: a damaged file's few
    wild samples (one at 1e6) would have divided the speech down to silence. Such samples,
    in a recording at its own scale, are clipped to full scale: left, one of 1e6 moved the
    mean :func:`without_offset` takes away (run after this) by 9 for a 7 s clip.
    """
    magnitude = np.abs(samples)
    if samples.size == 0 or float(magnitude.max()) <= OVER_FULL_SCALE:
        return samples
    rank = min(magnitude.size - 1, int(magnitude.size * (1.0 - LOUDEST_SHARE)))
    level = float(np.partition(magnitude, rank)[rank])
    scaled = samples / np.float32(level) if level > OVER_FULL_SCALE else samples
    return np.clip(scaled, -1.0, 1.0).astype(np.float32, copy=False)


def _describe(name: str | None, content_type: str | None, size: int) -> str:
    if name:
        return repr(name)
    hint = f"{content_type}, " if content_type else ""
    return f"the request body ({hint}{size} bytes)"


def _decode_soundfile(data: bytes, what: str, max_seconds: float) -> np.ndarray | None:
    """libsndfile in-process; ``None`` when it cannot read the bytes (ffmpeg will try)."""
    import soundfile as sf

    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            rate = f.samplerate
            _check_rate(rate, what)  # before reading: the header alone decides the cost
            if f.frames > 0 and f.frames / rate > max_seconds:
                raise AudioTooLongError(
                    f"audio too long: {what} lasts {f.frames / rate:.1f} s, more than the configured "
                    f"maximum of {max_seconds:g} s (TWI_ASR_MAX_AUDIO_SECONDS)"
                )
            frames = f.read(dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        logger.debug("soundfile could not read %s: %s", what, exc)
        return None
    if frames.shape[0] == 0:
        return None  # let ffmpeg have a go; it reports what is wrong
    return _to_mono_16k(frames, rate)


def _check_rate(rate: int, what: str) -> None:
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise UnsupportedAudioError(
            f"unsupported audio: {what} claims a sample rate of {rate} Hz, outside the "
            f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz of real recordings; its header is probably damaged"
        )


def downmix(frames: np.ndarray) -> np.ndarray:
    """``frames`` (samples x channels) as one channel: the mean of the channels, each first
    turned to the polarity of the loudest one.

    A plain mean cancels a channel whose polarity is inverted (a miswired balanced cable, a
    recorder's second input, a "wide stereo" effect): such a file decoded to silence, its
    transcript came back empty with ``gate: silence`` and nothing in ``uncovered_speech``
    (a 7 s LibriVox clip with its right channel inverted, as WAV, MP3 or AAC; ffmpeg's own
    ``-ac 1``, which openai-whisper and faster-whisper decode with, does the same). The sign
    of each channel's covariance with the loudest undoes it. Channels that hold different
    speakers (a call's two parties, one per channel) hardly correlate, and turning one over
    changes nothing audible: they seldom speak at once.
    """
    if frames.shape[1] == 1:
        return np.ascontiguousarray(frames[:, 0])
    frames = np.asarray(frames, dtype=np.float32)
    # Each channel's variance, and its covariance with each other one: about their means, or
    # two channels' offsets of opposite sign (each ADC its own bias) outweigh quiet speech in
    # phase and turn it over (+-0.05 under speech at -44 dBFS cancelled it to -160 dBFS).
    mean = (np.ones(len(frames), dtype=np.float32) @ frames).astype(np.float64) / len(frames)
    cov = (frames.T @ frames).astype(np.float64) - len(frames) * np.outer(mean, mean)
    polarity = np.where(cov[:, int(np.argmax(np.diag(cov)))] < 0, -1.0, 1.0)
    return frames @ (polarity / frames.shape[1]).astype(np.float32)


def _to_mono_16k(frames: np.ndarray, rate: int) -> np.ndarray:
    mono = downmix(frames)
    if rate != SAMPLE_RATE:
        import soxr

        mono = soxr.resample(mono, rate, SAMPLE_RATE, quality=SOXR_QUALITY)
    return _finite(mono)


def _finite(samples: np.ndarray) -> np.ndarray:
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    if not np.isfinite(samples).all():
        samples = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
    return samples


def _decode_ffmpeg(
    data: bytes, what: str, kind: str, ffmpeg: str, max_seconds: float, timeout: float
) -> np.ndarray:
    exe = shutil.which(ffmpeg)
    if exe is None:
        raise UnsupportedAudioError(
            f"unsupported audio: could not decode {what} ({kind}): libsndfile cannot read it and "
            f"ffmpeg ({ffmpeg!r}) is not installed"
        )
    first = ""
    if not (kind in _NEEDS_SEEK and index_after_audio(data)):
        try:
            return _run_ffmpeg(exe, "pipe:0", data, max_seconds, timeout)
        except _NoAudioStream:
            raise _no_audio_stream(what, kind) from None
        except _FfmpegFailed as exc:
            if kind not in _NEEDS_SEEK:
                raise UnsupportedAudioError(
                    f"unsupported audio: could not decode {what} (ffmpeg: {exc})"
                ) from None
            first = str(exc)
    # MP4 with its index at the end: ffmpeg must seek, which a pipe cannot do.
    with tempfile.TemporaryDirectory(prefix="twi-asr-") as tmp:
        path = os.path.join(tmp, "input")
        with open(path, "wb") as f:
            f.write(data)
        try:
            return _run_ffmpeg(exe, path, None, max_seconds, timeout)
        except _NoAudioStream:
            raise _no_audio_stream(what, kind) from None
        except _FfmpegFailed as exc:
            reason = str(exc) if str(exc) else first
            raise UnsupportedAudioError(
                f"unsupported audio: could not decode {what} (ffmpeg: {reason})"
            ) from None


def index_after_audio(data: bytes) -> bool:
    """Whether an MP4-family file's index (``moov`` box) comes after its audio (``mdat``),
    from the top-level box headers alone (8-16 bytes each, no sample read).

    Such a file cannot be demuxed from a pipe, and it is the common case for voice notes:
    phones' recorders write the index when the recording ends. Trying the pipe first cost
    every such request a second ffmpeg start (measured on 2 CPU cores: a 9-10 s m4a took
    0.31 s to decode, 0.13-0.16 s straight from the seekable file, the same samples; an
    ffmpeg start alone is ~0.15 s). ``False`` when the index comes first or the boxes cannot
    be walked: then the pipe is tried first, as before.
    """
    pos, size_of = 0, len(data)
    while pos + 8 <= size_of:
        size = int.from_bytes(data[pos : pos + 4], "big")
        box = data[pos + 4 : pos + 8]
        if box == b"moov":
            return False
        if box == b"mdat":
            return True
        if size == 1 and pos + 16 <= size_of:  # 64-bit size after the type
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        if size < 8:  # 0 (runs to the end) before either box, or damaged
            return False
        pos += size
    return False


class _FfmpegFailed(Exception):
    pass


class _NoAudioStream(_FfmpegFailed):
    """The input opened, but ``-map 0:a:0`` found no audio stream in it."""


def _no_audio_stream(what: str, kind: str) -> UnsupportedAudioError:
    container = "" if kind == "unknown" else f" ({kind})"
    return UnsupportedAudioError(
        f"unsupported audio: {what}{container} has no audio stream (a video or image without sound)"
    )


_NO_AUDIO_MAP: Final = b"matches no streams"  # ffmpeg: "Stream map '0:a:0' matches no streams."


def _run_ffmpeg(exe: str, source: str, data: bytes | None, max_seconds: float, timeout: float) -> np.ndarray:
    cmd = [exe, "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "0", "-i", source]
    # Its channels as they are (more than two folded to stereo by ffmpeg's own matrix, which
    # leaves out the LFE), so that :func:`downmix` sees each one; a WAV header says how many.
    cmd += ["-map", "0:a:0", "-vn", "-sn", "-dn", "-ar", str(SAMPLE_RATE)]
    cmd += ["-af", f"aresample=resampler={_resampler(exe)},aformat=channel_layouts=mono|stereo"]
    if max_seconds != float("inf"):
        cmd += ["-t", f"{max_seconds + 1:.3f}"]  # one second more, so "too long" is detectable
    cmd += ["-fflags", "+bitexact", "-f", "wav", "-acodec", "pcm_f32le", "pipe:1"]  # no tags: aligned
    try:
        proc = subprocess.run(
            cmd, input=data if data is not None else b"", capture_output=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise _FfmpegFailed(f"decoding took longer than {timeout:g} s") from None
    message = _last_error_line(proc.stderr, source)
    if proc.returncode != 0 and _NO_AUDIO_MAP in proc.stderr:
        raise _NoAudioStream(message)
    if proc.returncode != 0:
        raise _FfmpegFailed(message or f"exit status {proc.returncode}")
    frames = _wav_frames(proc.stdout)
    if frames.shape[0] == 0:
        raise _FfmpegFailed(message or "no audio samples in the input")
    return _finite(downmix(frames))


def _wav_frames(wav: bytes) -> np.ndarray:
    """ffmpeg's 32-bit float WAV from a pipe as (samples x channels): a view of ``wav`` (10 min
    of stereo is 77 MB), copied only if its samples start off a 4-byte boundary. On a pipe
    ffmpeg cannot go back to write the sizes (0xFFFFFFFF), so the samples run from the
    ``data`` chunk to the end; ``fmt `` says how many channels. A last frame cut short (ffmpeg
    stopped) is dropped."""
    channels, pos = 0, 12  # after "RIFF", its size and "WAVE"
    while pos + 8 <= len(wav):
        chunk, size = wav[pos : pos + 4], int.from_bytes(wav[pos + 4 : pos + 8], "little")
        if chunk == b"fmt ":
            channels = int.from_bytes(wav[pos + 10 : pos + 12], "little")
        elif chunk == b"data" and channels > 0:
            samples = memoryview(wav)[pos + 8 :]
            usable = len(samples) - len(samples) % (4 * channels)
            frames = np.frombuffer(samples[:usable], dtype=np.float32).reshape(-1, channels)
            return np.require(frames, requirements="A")  # its header's length may leave it unaligned
        pos += 8 + size + size % 2
    return np.zeros((0, 1), dtype=np.float32)


def _last_error_line(stderr: bytes, source: str) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("Last message repeated")]
    if not lines:
        return ""
    # "<input>: Invalid data found..." is generic; the line before usually says why.
    specific = [ln for ln in lines if not ln.startswith((f"{source}:", "Error opening input"))]
    line = specific[-1] if specific else lines[-1].replace(source, "input")
    return line.split("] ", 1)[1] if line.startswith("[") and "] " in line else line


_RESAMPLER: dict[str, str] = {}


def _resampler(exe: str) -> str:
    """``soxr`` (high quality) when this ffmpeg was built with libsoxr, else its own ``swr``."""
    if exe not in _RESAMPLER:
        try:
            out = subprocess.run([exe, "-hide_banner", "-version"], capture_output=True, timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired):
            out = b""
        _RESAMPLER[exe] = "soxr" if b"--enable-libsoxr" in out else "swr"
    return _RESAMPLER[exe]
