"""The benchmark harness: its inputs, its scoring, and a quick end-to-end run (`--quick`)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.cues import CueCheck, as_segments, check_cues, pauses_between
from bench.inputs import (
    BABBLE_SNR_DB,
    FAR_VOICE_GAIN_DB,
    FIRST_WORD_S,
    HARD_INPUTS,
    LONG_PAUSE_MIN_S,
    MAX_PAUSE_S,
    MIN_PAUSE_S,
    PHONE_BAND_HZ,
    PHONE_RATE,
    RADIO_JINGLE_S,
    RADIO_JINGLES,
    ROOM_RT60_S,
    SAID_AGAIN_CLIP_MAX_S,
    SAID_AGAIN_PAUSES_S,
    SAMPLE_RATE,
    SHORT_CLIP_MAX_S,
    SLOW_SPEED,
    CannotBuild,
    Clip,
    _assemble,
    at_speed,
    build_far_voice,
    build_hard_input,
    build_longform,
    build_radio_show,
    build_said_again,
    english_clips,
    in_room,
    load_clip,
    load_longforms,
    save_longforms,
    speech_bounds,
)
from bench.short import STAGES, short_clips
from bench.timing import aligned, start_timing
from twi_asr.evaluation.manifest import read_manifest
from twi_asr.scoring import SPELLING_FILE, word_error_rate

ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = ROOT.parent / "shared"  # as in conftest.py
SHARED_DATA = SHARED_DIR / "data"
SHIPPED = ROOT / "tests" / "data"  # the clips the repository ships, with their manifest.tsv
SONNETS = "librivox_en_shakespeare-sonnets-1-3_concat.flac"  # opens with 0.42 s of room tone
# Only a guard against a hang, never a speed check: the quick bench below takes 77 s alone
# on 2 cores, 120-135 s beside another test worker (2026-12-01), 170+ s beside two.
QUICK_BENCH_DEADLINE_S = 480


def run_bench(*args: str | Path, timeout: int) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "bench", *map(str, args)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_wer_uses_whisper_normalisation() -> None:
    assert word_error_rate("Mr. Smith, 20 dollars!", "mister smith twenty dollars").wer == 0.0
    result = word_error_rate("a tatter'd weed", "a tattered reed")
    assert result.wer == pytest.approx(1 / 3, abs=1e-4) and result.substitutions == 1
    assert word_error_rate("red green blue", "").deletions == 3
    with pytest.raises(ValueError, match="reference is empty"):
        word_error_rate(" ,. ", "text")


def test_wer_uses_whispers_standard_spelling_map(tmp_path: Path) -> None:
    # Whisper's english.json: British spellings are not recognition errors
    assert word_error_rate("He counselled the colour guard", "he counseled the color guard").wer == 0.0
    # a checkpoint's own normalizer.json takes precedence over the standard map
    (tmp_path / SPELLING_FILE).write_text(json.dumps({"colour": "colr"}), encoding="utf-8")
    assert word_error_rate("the colour", "the colr", str(tmp_path)).wer == 0.0
    assert word_error_rate("counselled", "counseled", str(tmp_path)).substitutions == 1


@pytest.mark.shared
def test_saved_inputs_reload_as_the_same_audio(tmp_path: Path) -> None:
    original = build_longform(SHARED_DATA, minutes=0.5, seed=1)
    save_longforms([original], tmp_path)
    (again,) = load_longforms(tmp_path)
    assert (again.name, again.reference, again.clips) == (original.name, original.reference, original.clips)
    assert again.audio.dtype.name == "float32" and again.audio.size == original.audio.size
    assert float(abs(again.audio - original.audio).max()) <= 1.0 / 32767  # 16-bit PCM


def test_a_clip_starts_where_its_speech_rises_out_of_its_own_room_tone() -> None:
    rng = np.random.default_rng(4)

    def tone(seconds: float, db: float) -> np.ndarray:  # noise this loud (dBFS)
        return rng.standard_normal(round(seconds * SAMPLE_RATE)) * 10 ** (db / 20)

    speech = tone(2.0, -3.0)
    # a reading with room tone 25 dB under its speech: the tone is not the first word
    noisy = np.concatenate([tone(0.4, -28.0), speech, tone(0.3, -28.0), speech, tone(0.4, -28.0)])
    first, last = speech_bounds(noisy.astype(np.float32))
    assert first == pytest.approx(0.4, abs=0.02) and last == pytest.approx(4.7, abs=0.02)
    # a studio clip (floor 60 dB down): a soft onset 30 dB under the peak is speech
    clean = np.concatenate([tone(0.4, -63.0), tone(0.2, -33.0), speech, tone(0.4, -63.0)])
    assert speech_bounds(clean.astype(np.float32))[0] == pytest.approx(0.4, abs=0.02)
    # hum under 100 Hz 30 dB under the speech, over a studio floor: loud in the whole band only
    hum = tone(0.6, -63.0) + 10 ** (-33.0 / 20) * np.sin(
        2 * np.pi * 50 * np.arange(round(0.6 * SAMPLE_RATE)) / SAMPLE_RATE
    )
    assert speech_bounds(np.concatenate([hum, speech, tone(0.4, -63.0)]).astype(np.float32))[
        0
    ] == pytest.approx(0.6, abs=0.02)
    # a click (one 20 ms frame) before the first word, as a Common Voice "no" opens: not speech
    clicked = np.concatenate([tone(0.3, -63.0), tone(0.02, -3.0), tone(0.4, -63.0), speech, tone(0.3, -63.0)])
    assert speech_bounds(clicked.astype(np.float32)) == pytest.approx((0.72, 2.72), abs=0.02)


def test_a_click_before_the_first_word_is_not_its_start_but_a_short_first_word_is() -> None:
    rng = np.random.default_rng(5)

    def tone(seconds: float, db: float) -> np.ndarray:  # noise this loud (dBFS)
        return rng.standard_normal(round(seconds * SAMPLE_RATE)) * 10 ** (db / 20)

    speech, floor = tone(2.0, -3.0), tone(0.3, -63.0)
    # a click of 60 ms (three frames), then 0.4 s of quiet: shorter than a syllable's vowel
    clicked = np.concatenate([floor, tone(0.06, -3.0), tone(0.4, -63.0), speech, floor])
    assert speech_bounds(clicked.astype(np.float32)) == pytest.approx((0.76, 2.76), abs=0.02)
    # "He", 60 ms, then 0.12 s of quiet (a stop's closure) before the next word: speech
    he = np.concatenate([floor, tone(0.06, -3.0), tone(0.12, -63.0), speech, floor])
    assert speech_bounds(he.astype(np.float32))[0] == pytest.approx(0.3, abs=0.02)
    # a clip of nothing but one short sound keeps it
    assert speech_bounds(
        np.concatenate([floor, tone(0.06, -3.0), floor]).astype(np.float32)
    ) == pytest.approx((0.3, 0.36), abs=0.02)


def test_a_common_voice_clip_starts_at_its_first_word_not_at_the_click_before_it(data_clips: dict) -> None:
    """tests/data/twi_34997394.mp3 opens with a 60 ms click 0.6 s before its first word
    (its first loud frames at 0.20 s); Silero, which knows nothing of the bench, hears the
    speech begin at the word."""
    from twi_endpoint.segmentation import speech_probabilities

    audio = load_clip(data_clips["twi_34997394.mp3"].path)
    start = speech_bounds(audio)[0]
    probs = speech_probabilities(audio)
    heard = int(np.argmax(probs > 0.5)) * audio.size / probs.size / SAMPLE_RATE
    assert start == pytest.approx(0.8, abs=0.04) and start == pytest.approx(heard, abs=0.1)


@pytest.mark.shared
def test_the_sonnets_start_at_their_first_word_not_at_the_room_tone() -> None:
    sonnets = next(c for c in english_clips(SHARED_DATA) if c.path.name == SONNETS)
    audio = load_clip(sonnets.path)

    def level(a: float, b: float) -> float:  # dBFS of the clip from a to b seconds
        return float(10 * np.log10(np.mean(audio[round(a * SAMPLE_RATE) : round(b * SAMPLE_RATE)] ** 2)))

    # what comes before "One" is as loud as the recording's pause after it: room tone
    assert level(0.0, 0.4) == pytest.approx(level(1.0, 1.6), abs=3.0)
    assert level(0.45, 0.8) > level(0.0, 0.4) + 15.0  # "One"
    for speed in (1.0, SLOW_SPEED):
        lf = _assemble("t", [sonnets], [1.0, 1.0], random.Random(0), np.random.default_rng(0), speed=speed)
        assert lf.spans[0].start_s == pytest.approx(1.0 + 0.42 / speed, abs=0.03)


def test_a_clip_that_opens_with_a_burst_starts_at_its_first_word(tmp_path: Path) -> None:
    import soundfile as sf

    # 0.5 s of a loud burst, a dip, then "speech" from the clip's listed first word on
    name = next(iter(FIRST_WORD_S))
    first_word = round(FIRST_WORD_S[name] * SAMPLE_RATE)
    wave = np.random.default_rng(0).standard_normal(first_word + SAMPLE_RATE).astype(np.float32) * 0.2
    wave[SAMPLE_RATE // 2 : first_word] *= 1e-3
    starts = {}
    for file in (name, "any_other_clip.wav"):
        sf.write(tmp_path / file, wave, SAMPLE_RATE)
        clip = Clip(tmp_path / file, wave.size / SAMPLE_RATE, "this")
        lf = _assemble("t", [clip], [1.0, 1.0], random.Random(0), np.random.default_rng(0))
        starts[file] = lf.spans[0].start_s
    assert starts[name] == pytest.approx(1.0 + FIRST_WORD_S[name], abs=0.01)
    assert starts["any_other_clip.wav"] == pytest.approx(1.0, abs=0.03)  # energy: the burst


@pytest.mark.shared
def test_the_corpus_clip_starts_at_its_first_word_not_at_the_rumble_after_its_burst() -> None:
    from twi_endpoint.segmentation import speech_probabilities

    name = next(iter(FIRST_WORD_S))
    audio = load_clip(next(c for c in english_clips(SHARED_DATA) if c.path.name == name).path)
    word = FIRST_WORD_S[name]

    def level(signal: np.ndarray, a: float, b: float) -> float:  # dBFS from a to b seconds
        return float(10 * np.log10(np.mean(signal[round(a * SAMPLE_RATE) : round(b * SAMPLE_RATE)] ** 2)))

    # before "this" the whole band is as loud as the word, but its first difference (a
    # high-pass: -34 dB at 50 Hz, -8 dB at 1 kHz) is as quiet as the pause after "cares"
    slope = np.diff(audio)
    assert level(audio, word - 0.3, word - 0.02) > level(audio, word + 0.02, word + 0.15) - 3.0
    assert level(slope, word - 0.3, word - 0.02) < level(slope, word + 0.02, word + 0.15) - 25.0
    assert level(slope, word - 0.3, word - 0.02) == pytest.approx(level(slope, 7.6, 8.0), abs=4.0)
    # Silero, which knows nothing of the bench, hears the first speech there too
    probs = speech_probabilities(audio)
    first_speech = int(np.argmax(probs > 0.3)) * audio.size / probs.size / SAMPLE_RATE
    assert first_speech == pytest.approx(word, abs=0.05)


@pytest.mark.shared
def test_every_english_clip_starts_within_a_tenth_of_a_second_of_silero_s_first_speech() -> None:
    """The bench's truth against a detector that knows nothing of it: on the whole band alone
    JFK's clip started 0.22 s early on its noise bed and a LibriVox clip 0.33 s early."""
    from twi_endpoint.segmentation import speech_probabilities

    for clip in english_clips(SHARED_DATA):
        audio = load_clip(clip.path)
        start = FIRST_WORD_S.get(clip.path.name, speech_bounds(audio)[0])
        probs = speech_probabilities(audio)
        heard = int(np.argmax(probs > 0.3)) * audio.size / probs.size / SAMPLE_RATE
        assert start == pytest.approx(heard, abs=0.1), clip.path.name


@pytest.mark.shared
def test_longform_input_is_reproducible_speech_with_pauses() -> None:
    a = build_longform(SHARED_DATA, minutes=1.0, seed=3)
    b = build_longform(SHARED_DATA, minutes=1.0, seed=3)
    assert a.reference == b.reference and a.audio.size == b.audio.size
    assert 50.0 <= a.duration_s <= 64.0
    pauses = a.duration_s - a.speech_s
    assert MIN_PAUSE_S * (a.clips + 1) <= pauses <= MAX_PAUSE_S * (a.clips + 1)
    assert a.clips >= 3 and all(c.reference.strip() for c in english_clips(SHARED_DATA))
    assert a.audio.dtype.name == "float32" and a.audio.ndim == 1
    assert build_longform(SHARED_DATA, minutes=1.0, seed=4).reference != a.reference


@pytest.mark.shared
def test_said_again_is_one_short_clip_again_and_again() -> None:
    again = build_said_again(SHARED_DATA, minutes=1.5, seed=8)
    assert again.clips >= 8 and len({s.reference for s in again.spans}) == 1
    (clip,) = [c for c in english_clips(SHARED_DATA) if c.reference == again.spans[0].reference]
    assert clip.duration_s <= SAID_AGAIN_CLIP_MAX_S and again.reference == " ".join(
        [clip.reference] * again.clips
    )
    lengths = {round(s.end_s - s.start_s, 2) for s in again.spans}
    assert max(lengths) - min(lengths) <= 0.01  # the same recording each time
    pauses = [b.start_s - a.end_s for a, b in zip(again.spans, again.spans[1:], strict=False)]
    assert min(pauses) >= SAID_AGAIN_PAUSES_S[0] and max(pauses) <= SAID_AGAIN_PAUSES_S[1] + clip.duration_s
    assert 60.0 <= again.duration_s <= 90.0 + SAID_AGAIN_PAUSES_S[1]  # the pause after the last


@pytest.mark.shared
def test_the_far_voice_is_every_other_clip_quieter() -> None:
    far = build_far_voice(SHARED_DATA, minutes=2.0, seed=3)
    by_reference = {c.reference: c for c in english_clips(SHARED_DATA)}
    assert far.clips >= 4 and far.reference == " ".join(s.reference for s in far.spans)
    for k, span in enumerate(far.spans):
        recorded = float(np.max(np.abs(load_clip(by_reference[span.reference].path))))
        heard = far.audio[round(span.start_s * SAMPLE_RATE) : round(span.end_s * SAMPLE_RATE)]
        level_db = 20 * np.log10(float(np.max(np.abs(heard))) / recorded)
        assert level_db == pytest.approx(FAR_VOICE_GAIN_DB if k % 2 else 0.0, abs=0.5), k


@pytest.mark.shared
def test_the_radio_show_is_the_speech_with_jingles_between_and_a_bed_under() -> None:
    plain = build_longform(SHARED_DATA, minutes=2.0, seed=6)  # 15 clips
    radio = build_radio_show(SHARED_DATA, minutes=2.0, seed=6)
    assert radio.reference == plain.reference and radio.clips == plain.clips
    added = radio.duration_s - plain.duration_s
    assert RADIO_JINGLES * RADIO_JINGLE_S[0] <= added <= RADIO_JINGLES * RADIO_JINGLE_S[1]
    shifts = [round(r.start_s - p.start_s, 3) for r, p in zip(radio.spans, plain.spans, strict=True)]
    assert shifts == sorted(shifts) and len(set(shifts)) == RADIO_JINGLES + 1  # a jingle before some clips
    for r, p in zip(radio.spans, plain.spans, strict=True):  # every clip moved whole, its length kept
        assert r.end_s - r.start_s == pytest.approx(p.end_s - p.start_s, abs=0.002)
    # in the middle third the clips are as recorded (span times are in whole milliseconds:
    # found within 16 samples), in the first third a bed is under them
    third = radio.duration_s / 3
    for r, p in zip(radio.spans, plain.spans, strict=True):
        b = plain.audio[round(p.start_s * SAMPLE_RATE) : round(p.end_s * SAMPLE_RATE)]
        at = round(r.start_s * SAMPLE_RATE)
        same = [np.allclose(radio.audio[at + k : at + k + b.size], b, atol=1e-6) for k in range(-16, 17)]
        if third + 1 < r.start_s and r.end_s < 2 * third - 1:
            assert any(same)
        elif r.end_s < third:
            assert not any(same)  # music under the speech
    # a pause that holds a jingle is music, not room tone
    r, p = next(
        (r, p) for r, p in zip(radio.spans[1:], plain.spans[1:], strict=True) if r.start_s - p.start_s > 1
    )
    gap = radio.audio[round((r.start_s - 5) * SAMPLE_RATE) : round((r.start_s - 2) * SAMPLE_RATE)]
    assert 20 * np.log10(np.sqrt(np.mean(gap.astype(np.float64) ** 2))) > -40


@pytest.mark.shared
def test_sparse_input_is_mostly_silence() -> None:
    sparse = build_longform(SHARED_DATA, minutes=2.0, seed=1, speech_fraction=0.2)
    assert sparse.duration_s == pytest.approx(120.0, abs=1.0)
    assert 0.05 * 120 <= sparse.speech_s <= 0.2 * 120 + 0.5
    assert sparse.audio.size == round(sparse.duration_s * SAMPLE_RATE)


@pytest.mark.shared
def test_hard_inputs_are_what_they_say() -> None:
    short = build_hard_input(SHARED_DATA, "short_pauses", minutes=1.0, seed=2)
    assert short.clips >= 3 and len(short.spans) == short.clips
    for a, b in zip(short.spans, short.spans[1:], strict=False):
        assert b.start_s - a.end_s >= LONG_PAUSE_MIN_S  # long pauses between short utterances
        assert a.end_s - a.start_s <= SHORT_CLIP_MAX_S
    plain = build_longform(SHARED_DATA, minutes=1.0, seed=2)
    quiet = build_hard_input(SHARED_DATA, "quiet", minutes=1.0, seed=2)
    assert float(np.abs(quiet.audio).max()) < 0.2 * float(np.abs(plain.audio).max())  # 20 dB down
    inner = build_hard_input(SHARED_DATA, "inner_pauses", minutes=1.0, seed=2)
    durations = {c.reference: c.duration_s for c in english_clips(SHARED_DATA)}
    stretched = [sp for sp in inner.spans if sp.end_s - sp.start_s > durations[sp.reference] + 0.9]
    assert len(stretched) >= inner.clips // 2  # 1-4 s pauses inside most clips
    for lf in (short, quiet, inner):
        assert [sp.start_s for sp in lf.spans] == sorted(sp.start_s for sp in lf.spans)
        assert lf.spans[0].start_s > 0.0 and lf.spans[-1].end_s < lf.duration_s
        assert lf.reference == " ".join(sp.reference.strip() for sp in lf.spans)
    assert build_hard_input(SHARED_DATA, "quiet", minutes=1.0, seed=2).reference == quiet.reference
    with pytest.raises(ValueError, match="unknown hard input"):
        build_hard_input(SHARED_DATA, "loud", minutes=1.0)
    assert set(HARD_INPUTS) == {
        "short_pauses",
        "inner_pauses",
        "quiet",
        "telephone",
        "slow",
        "reverb",
        "babble",
    }


@pytest.mark.shared
def test_the_slow_input_plays_every_clip_at_a_slower_pace() -> None:
    slow = build_hard_input(SHARED_DATA, "slow", minutes=1.0, seed=2)
    clips = {c.reference: c for c in english_clips(SHARED_DATA)}
    durations = {ref: c.duration_s for ref, c in clips.items()}
    # each clip's speech 1 / 0.8 as long as in its file (its energy onset may move a frame or
    # two: a soft first syllable crosses the onset level elsewhere at another pace)
    unhurried = [speech_bounds(load_clip(clips[sp.reference].path)) for sp in slow.spans]
    spoken = [sp.end_s - sp.start_s for sp in slow.spans]
    assert sum(spoken) == pytest.approx(sum(last - first for first, last in unhurried) / SLOW_SPEED, rel=0.02)
    played = sum(durations[sp.reference] for sp in slow.spans) / SLOW_SPEED
    assert played == pytest.approx(slow.speech_s, abs=0.01)
    assert [sp.start_s for sp in slow.spans] == sorted(sp.start_s for sp in slow.spans)
    assert 60.0 < slow.duration_s < 75.0  # a minute of clips as recorded, 1.25x as long
    # the same speech, 0.8x: a tone at 1 kHz comes back at 800 Hz, 1.25x as long
    tone = np.sin(2 * np.pi * 1000.0 * np.arange(SAMPLE_RATE) / SAMPLE_RATE).astype(np.float32)
    lower = at_speed(tone, SLOW_SPEED)
    assert lower.size == round(SAMPLE_RATE / SLOW_SPEED) and lower.dtype == np.float32
    peak_hz = np.argmax(np.abs(np.fft.rfft(lower))) * SAMPLE_RATE / lower.size
    assert peak_hz == pytest.approx(800.0, abs=2.0)
    assert at_speed(tone, 1.0) is tone


@pytest.mark.shared
def test_the_telephone_input_is_the_speech_through_a_phone_line() -> None:
    phone = build_hard_input(SHARED_DATA, "telephone", minutes=0.5, seed=5)
    assert phone.audio.dtype.name == "float32" and phone.clips >= 2 and phone.spans
    spectrum = np.abs(np.fft.rfft(phone.audio.astype(np.float64))) ** 2
    hz = np.fft.rfftfreq(phone.audio.size, 1 / SAMPLE_RATE)
    above_the_line = spectrum[hz > PHONE_RATE / 2].sum() / spectrum.sum()
    assert above_the_line < 1e-3  # nothing over 4 kHz: it was 8 kHz
    in_band = spectrum[(hz >= PHONE_BAND_HZ[0]) & (hz <= PHONE_BAND_HZ[1])].sum() / spectrum.sum()
    assert in_band > 0.9
    # line noise in the pauses, far above the -70 dBFS room noise of the other inputs
    first = round(phone.spans[0].start_s * SAMPLE_RATE)
    lead = phone.audio[: max(1, first - SAMPLE_RATE // 10)].astype(np.float64)
    assert 20 * np.log10(np.sqrt(np.mean(lead**2))) > -55


def test_a_room_adds_reverberation_that_decays_as_asked() -> None:
    click = np.zeros(2 * SAMPLE_RATE, dtype=np.float32)
    click[SAMPLE_RATE // 10] = 0.5
    heard = in_room(click, ROOM_RT60_S, np.random.default_rng(0)).astype(np.float64)
    assert np.argmax(np.abs(heard)) == SAMPLE_RATE // 10  # the direct sound, on time
    assert float(np.abs(heard).max()) == pytest.approx(0.5)  # as loud as it was
    assert float(np.abs(heard[: SAMPLE_RATE // 10]).max()) < 1e-9  # nothing before the sound
    tail = heard[SAMPLE_RATE // 10 + 1 :] ** 2
    direct = heard[SAMPLE_RATE // 10] ** 2
    assert tail.sum() == pytest.approx(direct, rel=1e-6)  # as much reverberation as direct sound

    def db_of(a: float, b: float) -> float:  # energy of the tail between a and b s after the click
        return float(10 * np.log10(tail[round(a * SAMPLE_RATE) : round(b * SAMPLE_RATE)].sum()))

    # 60 dB per ROOM_RT60_S: 0.1 s later, 60 * 0.1 / RT60 dB quieter
    assert db_of(0.0, 0.1) - db_of(0.1, 0.2) == pytest.approx(60 * 0.1 / ROOM_RT60_S, abs=1.5)


@pytest.mark.shared
def test_the_reverb_and_babble_inputs_are_the_speech_in_a_room_and_a_crowd() -> None:
    for name in ("reverb", "babble"):
        built = build_hard_input(SHARED_DATA, name, minutes=1.0, seed=3)
        assert built.audio.dtype.name == "float32" and built.clips >= 3
        assert max(sp.end_s - sp.start_s for sp in built.spans) <= 30.0  # no 158 s sonnet alone
        assert float(np.abs(built.audio).max()) <= 0.99
        assert built.reference == " ".join(sp.reference.strip() for sp in built.spans)
    babble = build_hard_input(SHARED_DATA, "babble", minutes=1.0, seed=3)
    # the pauses hold the talkers, BABBLE_SNR_DB under the speech, not the -70 dBFS room noise
    # (1.5 s before each span: the MFA clip opens with a loud burst 1.05 s before its first word)
    quiet = np.ones(babble.audio.size, dtype=bool)
    for sp in babble.spans:
        quiet[
            max(0, round((sp.start_s - 1.5) * SAMPLE_RATE)) : round(sp.end_s * SAMPLE_RATE) + SAMPLE_RATE // 4
        ] = False
    speech = np.concatenate(
        [babble.audio[round(sp.start_s * SAMPLE_RATE) : round(sp.end_s * SAMPLE_RATE)] for sp in babble.spans]
    )
    rms = lambda x: float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))  # noqa: E731
    assert 20 * np.log10(rms(babble.audio[quiet])) > -45
    assert 20 * np.log10(rms(speech) / rms(babble.audio[quiet])) == pytest.approx(BABBLE_SNR_DB, abs=3.0)


def test_start_timing_finds_each_clip_in_its_segment() -> None:
    spans = [(1.0, "Hello there my friend"), (10.0, "GOOD MORNING TO YOU")]
    segments = [
        (1.2, 3.0, "Hello there, my friend."),
        (9.0, 9.5, "Uh."),
        (10.3, 12.0, "Good morning to you."),
    ]
    t = start_timing(spans, segments)
    assert (t.clips, t.found) == (2, 2)
    assert t.median_s == pytest.approx(0.25) and t.within_half_s == 1.0 and t.max_segment_s == 1.8
    # a clip whose words never came back counts against the share within 0.5 s
    missing = start_timing(spans, segments[:1])
    assert (missing.found, missing.within_half_s) == (1, 0.5)
    # a clip whose first words sit in the middle of a segment: that segment's start counts
    late = start_timing(spans, [(1.2, 12.0, "hello there my friend good morning to you")])
    assert late.p95_s is not None and late.p95_s > 8.0


def test_start_timing_pairs_an_answer_said_again_where_it_was_said() -> None:
    """Held-out ``short_pauses`` seed 31, ours: "no" and "Fire fox" said by turns; whisper-base
    writes "Firefox" (never a match) and a "No. Firefox." too many. Of the alignments with the
    fewest edits, jiwer's paired the "no"s with answers 12-20 s away; a segment starts within
    0.02 s of each."""
    spans = [(103.581, "Fire fox"), (116.412, "no"), (128.744, "no"), (139.829, "Fire fox")]
    spans += [(149.617, "no"), (159.169, "Fire fox")]
    segments = [(103.584, 104.128, "Firefox."), (116.416, 116.608, "No."), (128.736, 128.992, "No,")]
    segments += [(139.84, 140.224, "Firefox."), (149.632, 149.792, "No. Firefox. No.")]
    segments += [(149.856, 149.888, "Firefox. No."), (159.2, 159.584, "Firefox.")]
    t = start_timing(spans, segments)
    assert (t.found, t.within_half_s) == (3, 0.5) and t.p95_s is not None and t.p95_s < 0.05
    # an answer written twice: the one where the clip is (jiwer's: 10 s before it)
    assert start_timing([(10.0, "no")], [(0.0, 0.3, "No."), (10.0, 10.2, "No.")]).median_s == 0.0
    # both in the clip's time (up to the next clip): the one nearer its start
    twice = start_timing([(0.0, "no"), (10.0, "yes")], [(0.0, 0.3, "No."), (10.0, 10.2, "No. Yes.")])
    assert twice.within_half_s == 1.0
    # the fewest edits first, then the most pairs: two substitutions never stand in for one
    assert aligned(["a", "b"], ["b", "a"], lambda i: np.zeros(2)) in (([(0, 1)], [1]), ([(1, 0)], [0]))


def test_a_clip_whose_words_did_not_come_back_is_lost_and_one_misread_is_not() -> None:
    spans = [(1.0, "hello there my friend"), (6.0, "good morning to you all"), (12.0, "see you soon")]
    segments = [(1.1, 3.0, "Hello there, my friend."), (12.1, 13.0, "Sea ewe spoon.")]
    t = start_timing(spans, segments)
    assert (t.lost, t.lost_at_s) == (1, (6.0,))  # the greeting never came back; the misread one did
    half = start_timing(spans, sorted([*segments, (6.1, 7.0, "Good morning.")]))  # 3 of 5 deleted
    assert (half.lost, half.lost_at_s) == (1, (6.0,))
    most = start_timing(spans, sorted([*segments, (6.1, 7.0, "Good morning to you.")]))
    assert most.lost == 0


def test_cues_are_checked_against_the_pauses_between_clips() -> None:
    """The product's subtitles (:mod:`twi_lambdas.subtitles`) from a contender's segments: a
    segment that holds two clips and the 4 s pause between them puts words on screen in the
    pause; one segment a clip does not."""
    pauses = pauses_between([(1.0, 3.0), (7.0, 9.0)])
    assert pauses == [(3.0, 7.0)]
    apart = as_segments([(1.0, 3.0, "The first sentence is here."), (7.0, 9.0, "And the second is there.")])
    assert check_cues(pauses, apart) == CueCheck(cues=2, too_long=0, over_pause=0)
    together = as_segments([(1.0, 9.0, "The first sentence is here. And the second is there.")])
    faults = check_cues(pauses, together)
    assert faults.over_pause >= 1 and faults.over_pause_at_s[0] < 7.0 and faults.too_long == 0
    # a short pause (under a second) between clips is no pause to keep off
    assert pauses_between([(1.0, 3.0), (3.8, 6.0)]) == []


def test_bench_says_what_is_missing_without_shared(tmp_path: Path) -> None:
    proc = run_bench("--shared", tmp_path / "nowhere", "--out", tmp_path, timeout=60)
    assert proc.returncode == 2
    assert "needs ../shared" in proc.stderr and "nowhere" in proc.stderr


def held_out(folder: Path, names: list[str]) -> Path:
    """A folder laid out like ../shared with only ``data/en/`` (shipped clips), its manifest
    without ``duration_s``: held-out data need not have every folder and column of ours."""
    en = folder / "data" / "en"
    en.mkdir(parents=True)
    references = {clip.file: clip.reference for clip in read_manifest(SHIPPED)}
    for name in names:
        shutil.copy(SHIPPED / name, en / name)
    lines = ["file\treference", *(f"{name}\t{references[name]}" for name in names)]
    (en / "manifest.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_held_out_data_with_only_english_clips_makes_every_input_it_can(tmp_path: Path) -> None:
    shared = held_out(tmp_path / "held-out", ["librivox_0870.wav", "librivox_0880.wav", "jfk.mp3"])
    durations = sorted(clip.duration_s for clip in english_clips(shared / "data"))  # read from the files
    assert durations == pytest.approx([2.99, 7.1, 11.0], abs=0.1)
    # the short-files workload takes its 3-30 s clips from en/ alone (formats/ is not there)
    assert sorted(clip.path.name for clip in short_clips(shared / "data")) == ["jfk.mp3", "librivox_0870.wav"]
    with pytest.raises(CannotBuild, match="other languages"):  # babble's talkers: long/ or twi/
        build_hard_input(shared / "data", "babble", minutes=0.25)
    # the bench leaves that input out, says why, and builds the rest (no model under --shared)
    sizes = ("--minutes", "0.25", "--sparse-minutes", "0.25", "--hard-minutes", "0.25", "--short-files", "0")
    proc = run_bench("--shared", shared, *sizes, "--save-inputs", tmp_path / "inputs", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "input babble left out: no recordings in other languages" in proc.stderr
    built = load_longforms(tmp_path / "inputs")
    made = ["speech", "sparse20", *(n for n in HARD_INPUTS if n != "babble")]
    assert [lf.name for lf in built] == made
    assert all(lf.clips >= 1 and lf.reference.strip() and len(lf.spans) == lf.clips for lf in built)
    # measured: the report names what was left out and why, and the table says it again
    out = tmp_path / "results"
    proc = run_bench("--shared", shared, *sizes, "--contenders", "ctranslate2", "--out", out, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    assert [i["name"] for i in report["inputs"]] == made and list(report["left_out"]) == ["babble"]
    assert "input babble left out: no recordings in other languages" in proc.stdout


def test_a_hard_input_without_a_clip_short_enough_for_it_is_left_out(tmp_path: Path) -> None:
    shared = held_out(tmp_path, ["jfk.mp3"])  # 11 s: no short utterance between long pauses
    with pytest.raises(CannotBuild, match=f"at most {SHORT_CLIP_MAX_S:g} s"):
        build_hard_input(shared / "data", "short_pauses", minutes=0.25)
    assert build_hard_input(shared / "data", "quiet", minutes=0.25).clips >= 1


def test_quick_keeps_the_sizes_given_on_the_command_line() -> None:
    from bench.run import parse_args

    quick = parse_args(["--quick", "--hard-minutes", "0.25"])
    assert (quick.minutes, quick.sparse_minutes, quick.hard_minutes, quick.runs) == (0.5, 0.5, 0.25, 1)
    full = parse_args(["--runs", "1"])
    assert (full.minutes, full.sparse_minutes, full.hard_minutes, full.runs) == (10.0, 10.0, 3.0, 1)


@pytest.mark.shared
@pytest.mark.timeout(QUICK_BENCH_DEADLINE_S + 10)
def test_quick_bench_runs_end_to_end(tmp_path: Path) -> None:
    contenders = "ctranslate2,faster_whisper_batched"
    args = ("--quick", "--shared", SHARED_DIR, "--contenders", contenders, "--hard-minutes", "0.25")
    proc = run_bench(*args, "--out", tmp_path, timeout=QUICK_BENCH_DEADLINE_S)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "bench.json").read_text(encoding="utf-8"))
    assert (tmp_path / "bench.png").stat().st_size > 10_000
    assert [i["name"] for i in report["inputs"]] == ["speech", "sparse20", *HARD_INPUTS]
    labels = [r["label"] for r in report["results"]]
    assert labels == ["ctranslate2", "faster_whisper_batched"]
    for r in report["results"]:
        assert r["device"] == "cpu" and r["dtype"].startswith("int8")
        assert r["load_s"] > 0 and r["peak_rss_mb"] > 100
        assert r["steal_share"] is None or 0.0 <= r["steal_share"] <= 1.0
        speech = r["inputs"]["speech"]
        assert speech["x_real_time"] > 1.0 and speech["rtf"] > 0
        assert speech["wer"]["wer"] <= 0.25, speech["text"]
        timing = speech["timing"]  # every contender here returns timed segments
        assert timing["clips"] >= 1 and timing["found"] >= 1 and timing["median_s"] is not None
    assert "ctranslate2" in proc.stdout and "x RT" in proc.stdout
    ours = report["results"][0]["inputs"]["speech"]["timing"]
    found = f"{ours['found']}/{ours['clips']}"
    assert "found" in proc.stdout and f" {found} " in proc.stdout  # clips found at all, beside the share
    # no clip lost, and the subtitles of our segments keep to the clips (in the table too)
    cues = report["results"][0]["inputs"]["speech"]["cues"]
    assert ours["lost"] == 0 and cues["cues"] >= ours["clips"] and cues["too_long"] == cues["over_pause"] == 0
    assert "lost" in proc.stdout and f" 0/0 of {cues['cues']} " in proc.stdout
    # --quick: 4 short files (`python -m bench.short`), one request each, then in one
    # coalesced request, beside the same audio as one file and the model's ceiling
    short = report["short_files"]
    (run,) = short["runs"]
    assert short["clips"] == 4 and run["requests"] == 4 and run["errors"] == 0 and run["x_real_time"] > 0
    assert run["wer"]["wer"] <= 0.5, run["texts"]
    for request in run["per_request"]:
        stages = request["stages"]
        assert set(stages) == set(STAGES) and stages["encode"] > 0 and stages["generate"] > 0
        assert sum(stages.values()) == pytest.approx(request["wall_s"], abs=0.01)  # they add up
    (coalesced,) = short["coalesced"]  # the same texts, one per file
    assert (coalesced["requests"], coalesced["errors"], coalesced["texts"]) == (1, 0, run["texts"])
    assert coalesced["vs_per_file"] > 0
    assert short["concatenated"]["x_real_time"] > 0 and short["ceiling"]["x_real_time"] > 0
    assert "one request per file" in proc.stdout and "the same audio as one file" in proc.stdout
    assert "files per request" in proc.stdout


def test_the_former_name_runs_the_bench() -> None:
    """``python -m twi_asr.bench`` (the name the issues quote) is the bench, from the repository root."""
    out = subprocess.run(
        [sys.executable, "-m", "twi_asr.bench", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and "--inputs-dir" in out.stdout
