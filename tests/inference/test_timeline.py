"""The timeline rules (no model): window clocks, timestamp tokens, snapping, splitting, coverage."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
from twi_endpoint.coverage import (
    RETRY_MIN_S,
    coverage,
    held_span,
    merge_segments,
    recover_uncovered,
    recovery_windows,
    short_utterance_windows,
    uncovered_speech,
)
from twi_endpoint.hallucination import is_loop, looks_made_up, squeezed, without_squeezed_runs
from twi_endpoint.segmentation import (
    FRAME_S,
    SILERO_MIN_SPEECH_S,
    VAD_FRAME,
    SegmentationOptions,
    VoiceActivity,
    Window,
    plan_windows,
)
from twi_endpoint.sentences import MAX_PAUSE_S, MAX_SEGMENT_S, at_sentence_ends, in_order, split_segment
from twi_endpoint.timeline import (
    COVER_MARGIN_S,
    MAX_WORD_S,
    TimedTokens,
    WindowClock,
    after_audio,
    frame_of,
    holds_speech,
    loops_in_one_piece,
    place_window,
    place_words,
    seek_point,
    snap_to_speech,
    start_at_onsets,
    timestamped_segments,
    trim_words_to_speech,
    unheard,
    window_segments,
    within_segment,
    without_loops,
)
from twi_endpoint.types import MIN_TOKEN_BUDGET, SAMPLE_LEN, SAMPLE_RATE, Segment, Word, token_budget

TS = 50364  # <|0.00|> in the multilingual vocabulary
EOT = 50257


def _activity(pattern: list[tuple[float, float]]) -> VoiceActivity:
    """VAD probabilities from (seconds, probability) runs."""
    probs = np.concatenate([np.full(round(sec / FRAME_S), p, dtype=np.float32) for sec, p in pattern])
    return VoiceActivity(probs, probs.size * VAD_FRAME, SegmentationOptions())


def _speech_at(spans: list[tuple[float, float]], end: float) -> VoiceActivity:
    """VAD activity of a recording ``end`` s long with speech (0.9) at ``spans``, quiet (0.02)
    elsewhere."""
    pattern, at = [], 0.0
    for start, stop in spans:
        pattern += [(start - at, 0.02), (stop - start, 0.9)]
        at = stop
    return _activity([*pattern, (end - at, 0.02)])


def test_window_clock_maps_joined_pieces_back_to_the_recording() -> None:
    # pieces 10-12 s and 30-33 s, joined: window time 2.5 s is recording time 30.5 s
    window = Window(((10 * SAMPLE_RATE, 12 * SAMPLE_RATE), (30 * SAMPLE_RATE, 33 * SAMPLE_RATE)))
    clock = WindowClock(window)
    assert clock.duration == pytest.approx(5.0)
    assert clock(0.0) == pytest.approx(10.0)
    assert clock(1.5) == pytest.approx(11.5)
    assert clock(2.5) == pytest.approx(30.5)
    assert clock(9.0) == pytest.approx(33.0)  # past the end: the end


def test_a_word_aligned_across_a_joint_goes_where_its_end_holds_speech() -> None:
    # speech 1-3 s ("... etc.") and 23-25 s ("He was ..."), joined in one window with their
    # 0.4 s of padding: the joint is at window time 2.8 s (recording 3.4 -> 22.6 s)
    activity = _activity([(1.0, 0.02), (2.0, 0.9), (20.0, 0.02), (2.0, 0.9), (1.0, 0.02)])
    (window,) = plan_windows(activity.probs, activity.n_samples, activity.options)
    assert len(window.pieces) == 2
    joint = window.pieces[0][1] - window.pieces[0][0]
    at = joint / SAMPLE_RATE
    clock = WindowClock(window, activity)
    # "He": its start run early into the silence before the joint, its end into the speech
    # after it: said after the pause (before, without the VAD: half of it is on each side)
    start, end = clock.span(at - 0.5, at + 0.5)
    assert 22.5 < start < end <= 23.2
    assert WindowClock(window).span(at - 0.5, at + 0.5)[1] <= 3.4
    # "etc.": its end runs into the joint's padding only (no speech): it stays before the pause
    start, end = clock.span(at - 1.3, at + 0.1)
    assert 2.0 < start < end <= 3.4


def test_a_soft_first_word_the_vad_misses_goes_after_the_joint_by_its_sound() -> None:
    # as above; "And" is said at 22.75-23.0 s, loud but unheard by the VAD (speech from 23 s):
    # aligned 0.55 s before the joint and 0.35 s after it, it belongs after the pause
    activity = _activity([(1.0, 0.02), (2.0, 0.9), (20.0, 0.02), (2.0, 0.9), (1.0, 0.02)])
    (window,) = plan_windows(activity.probs, activity.n_samples, activity.options)
    at = (window.pieces[0][1] - window.pieces[0][0]) / SAMPLE_RATE
    assert WindowClock(window, activity).span(at - 0.55, at + 0.35)[1] <= 3.4  # VAD alone: before
    loud = np.zeros(activity.probs.size, dtype=bool)
    loud[round(22.75 / FRAME_S) : round(25.0 / FRAME_S)] = True
    heard = replace(activity, loud=loud)
    start, end = WindowClock(window, heard).span(at - 0.55, at + 0.35)
    assert 22.5 < start < end <= 23.0
    # "etc." stretched over the joint into the quiet before "And": no sound there, it stays
    assert WindowClock(window, heard).span(at - 1.3, at + 0.1)[1] <= 3.4


def test_segments_without_words_keep_off_the_pieces_where_they_hold_no_speech() -> None:
    # speech 1-3 s, 23-25 s and 45-48 s, one window of three pieces with 0.4 s of padding each
    activity = _activity(
        [(1.0, 0.02), (2.0, 0.9), (20.0, 0.02), (2.0, 0.9), (20.0, 0.02), (3.0, 0.9), (1.0, 0.02)]
    )
    (window,) = plan_windows(activity.probs, activity.n_samples, activity.options)
    pieces = [(s / SAMPLE_RATE, e / SAMPLE_RATE) for s, e in window.pieces]
    assert len(pieces) == 3
    j1 = pieces[0][1] - pieces[0][0]  # the joints, in window time
    j2 = j1 + pieces[1][1] - pieces[1][0]
    clock = WindowClock(window, activity)

    def inside(span: tuple[float, float], k: int) -> bool:
        return pieces[k][0] - 1e-6 <= span[0] < span[1] <= pieces[k][1] + 1e-6

    # a sentence's end timestamp 0.2 s into the next piece's padding (whole seconds, as
    # whisper-base under transformers writes them): it stays before the pause
    first, second, third = clock.segments_spans([(0.0, j1 + 0.2), (j1 + 0.2, j2), (j2, clock.duration)])
    assert inside(first, 0)  # not 0.6-22.8: the pause is not spanned
    assert inside(second, 1)  # it ends at the joint, not at the next piece's start
    assert inside(third, 2)
    # a sentence's start timestamp 0.1 s before the end of the speech before it (the
    # coverage check counts that speech as the sentence before's): it starts after the pause
    _, second = clock.segments_spans([(0.0, j1 - 0.5), (j1 - 0.5, j2)])
    assert inside(second, 1)
    # two sentences in one segment: both pieces hold speech of its own, it spans the pause
    (both,) = clock.segments_spans([(0.0, j2)])
    assert both[0] < pieces[0][1] and both[1] > pieces[1][0]
    # no VAD: the window's times as they are
    assert WindowClock(window).segments_spans([(0.0, j1 + 0.2)])[0][1] > pieces[1][0]


def test_timestamp_tokens_become_segments() -> None:
    tokens = [TS + 0, 100, 101, TS + 150, TS + 150, 102, TS + 400, EOT]
    a, b = timestamped_segments(tokens, TS, EOT, 29.0)
    assert (a.start, a.end, a.tokens) == (0.0, 3.0, [100, 101])
    assert (b.start, b.end, b.tokens) == (3.0, 8.0, [102])
    # text that never closed (token limit) runs to the window's end
    (c,) = timestamped_segments([TS + 50, 103, 104], TS, EOT, 12.0)
    assert (c.start, c.end) == (1.0, 12.0)
    assert timestamped_segments([TS, TS + 10, EOT], TS, EOT, 5.0) == []


def test_a_segment_opened_and_never_written_is_where_whisper_would_seek_to() -> None:
    # "... to do<|23.52|><|23.52|>" and the end of text: the decoder stopped at 23.52 s of a
    # 28.7 s window (bench `slow` seed 90, "[for them]" left unwritten)
    text = [TS + 0, 100, 101, TS + 250, TS + 250, 102, 103, TS + 1176, TS + 1176]
    assert seek_point([*text, EOT], TS, EOT, 28.7) == pytest.approx(23.52)
    assert seek_point([*text, EOT, EOT, EOT], TS, EOT, 28.7) == pytest.approx(23.52)  # a batch's padding
    # its last segment closed: read to its end, as openai-whisper's single timestamp ending
    assert seek_point(text[:-1], TS, EOT, 28.7) is None
    # opened at the window's end, or no text at all: nothing left to it
    assert seek_point([TS + 0, 100, TS + 1434, TS + 1434], TS, EOT, 28.7) is None
    assert seek_point([TS + 0, TS + 0], TS, EOT, 28.7) is None
    # transformers restarts the clock: the times count on (22.96 + 4.32 s)
    restarted = [TS + 0, 100, TS + 1148, TS + 1148, TS + 0, 101, TS + 216, TS + 216]
    assert seek_point(restarted, TS, EOT, 29.5) == pytest.approx(27.28)


def test_the_rest_of_a_piece_is_up_to_the_pause_after_it() -> None:
    # pieces 10-12 s and 30-33 s joined: window time 1.5 s is 11.5 s, its piece ends at 12 s
    window = Window(((10 * SAMPLE_RATE, 12 * SAMPLE_RATE), (30 * SAMPLE_RATE, 33 * SAMPLE_RATE)))
    clock = WindowClock(window)
    assert clock.rest_of_piece(1.5) == pytest.approx((11.5, 12.0))
    assert clock.rest_of_piece(2.5) == pytest.approx((30.5, 33.0))


def test_segment_edges_move_onto_the_speech() -> None:
    activity = _activity([(2.0, 0.02), (3.0, 0.9), (2.0, 0.02)])  # speech 2-5 s
    seg = snap_to_speech(Segment(1.2, 6.5, "hello"), activity)
    assert seg.start == pytest.approx(2.0, abs=FRAME_S) and seg.end == pytest.approx(5.0, abs=FRAME_S)
    untouched = Segment(5.5, 6.5, "no speech here")
    assert snap_to_speech(untouched, activity) == untouched


def test_words_stretched_over_a_pause_are_trimmed() -> None:
    activity = _activity([(1.0, 0.9), (2.0, 0.02), (1.0, 0.9)])  # speech 0-1 s and 3-4 s
    words = [Word(0.1, 2.9, " long", 0.9), Word(2.9, 3.8, " next", 0.9)]
    a, b = trim_words_to_speech(words, activity)
    assert a.end == pytest.approx(1.0, abs=FRAME_S)  # ends with its speech region
    assert b.start == pytest.approx(3.0, abs=FRAME_S)


def test_a_first_word_with_no_onset_under_it_keeps_its_end() -> None:
    """Where other people talk before a sentence, the VAD hears no pause, and the alignment
    hands their speech to the sentence's first word: it keeps its end and at most twice the
    median word before it (openai-whisper's rule for a first word after a pause)."""
    words = [Word(1.0, 3.0, " He", 0.9)] + [Word(t, t + 0.3, " w", 0.9) for t in (3.0, 3.3, 3.6)]
    crowd = _activity([(10.0, 0.9)])  # speech all along
    first, *rest = trim_words_to_speech(words, crowd)
    assert first.end == pytest.approx(3.0, abs=FRAME_S)
    assert first.start == pytest.approx(3.0 - 2 * 0.3, abs=FRAME_S)
    assert [(w.start, w.end) for w in rest] == [
        (pytest.approx(w.start, abs=FRAME_S), pytest.approx(w.end, abs=FRAME_S)) for w in words[1:]
    ]
    # the same at the recording's first instant: sound already there is no onset either
    (first,) = trim_words_to_speech([Word(0.0, 2.0, " He", 0.9)], crowd)
    assert first.start == pytest.approx(2.0 - 2 * 0.7, abs=FRAME_S)  # a median word at most 0.7 s
    # heard beginning after a pause: the onset is where it starts (at most MAX_WORD_S long)
    first, *_ = trim_words_to_speech(words, _activity([(1.0, 0.02), (9.0, 0.9)]))
    assert first.start == pytest.approx(1.0, abs=FRAME_S)
    assert first.end == pytest.approx(1.0 + MAX_WORD_S, abs=FRAME_S)
    # a word inside a sentence keeps its start: it follows the word before it
    (w,) = trim_words_to_speech([Word(0.5, 0.9, " he", 0.9), Word(0.9, 2.5, " said", 0.9)], crowd)[1:]
    assert w.start == pytest.approx(0.9, abs=FRAME_S)


def _heard(levels: list[tuple[float, float]]) -> VoiceActivity:
    """Speech all along (the VAD hears no pause), each frame's level in dB from (seconds, dB)
    runs."""
    level = np.concatenate([np.full(round(sec / FRAME_S), db) for sec, db in levels])
    return replace(_activity([(level.size * FRAME_S, 0.9)]), level_db=level)


def test_a_first_word_is_first_heard_where_its_speaker_starts() -> None:
    """A segment's first word, aligned from 1.0 s, starts where it is first heard: 10 dB
    over the floor around it, or within 10 dB of its own loudest frame, whichever comes
    first; a segment moved back to its region's onset goes no further back than that."""
    word = [Word(1.0, 2.4, " So", 0.9), Word(2.4, 2.7, " he", 0.9)]
    cases = {  # (levels from 0 s, where the word is first heard)
        # other people talking (-40 dB, bursts to -34) until the speaker (-20 dB) at 2.0 s
        "crowd": ([(1.3, -40.0), (0.2, -34.0), (0.5, -40.0), (2.0, -20.0)], 2.0),
        # a quiet room: a consonant 20 dB under its vowel (more than 10 dB: not the vowel's)
        "consonant": ([(1.6, -70.0), (0.2, -45.0), (2.2, -25.0)], 1.6),
        # a soft speaker over a phone line's noise: 8 dB over it, then 13 dB (not the floor's)
        "soft": ([(1.5, -45.0), (0.5, -37.0), (2.0, -32.0)], 1.5),
    }
    for name, (levels, heard) in cases.items():
        first, second = trim_words_to_speech(word, _heard(levels))
        assert first.start == pytest.approx(heard, abs=FRAME_S), name
        assert (first.end, second.start) == (pytest.approx(2.4, abs=FRAME_S), pytest.approx(2.4, abs=FRAME_S))
    # the first text of the crowd's region (open from 0 s) starts where the speaker is heard
    crowd = _heard(cases["crowd"][0])
    (seg,) = start_at_onsets([Segment(2.0, 2.7, "So he", (Word(2.0, 2.4, " So", 0.9),))], crowd)
    assert seg.start == pytest.approx(2.0, abs=FRAME_S)
    # the words after it start no earlier (the alignment had the second word 0.2 s before)
    first, second = trim_words_to_speech([word[0], Word(1.8, 2.7, " he", 0.9)], crowd)
    assert first.start == pytest.approx(2.0, abs=FRAME_S) and second.start >= first.start
    # without levels (a VAD built from probabilities alone) the first word is not moved
    (first,) = trim_words_to_speech(word[:1], replace(crowd, level_db=None))
    assert first.start == pytest.approx(1.0, abs=FRAME_S)


def test_a_first_word_aligned_up_to_its_voice_is_heard_against_the_words_after_it() -> None:
    """The alignment can end a sentence's first word a frame or two into its voice, having
    given it the talk before: its own loudest frame is then the voice's onset, and the talk
    (7 dB under it) counted as the word ("He" 91.17-92.29 s, the voice at 92.23 s: bench
    ``babble`` seed 101). The voice's level is its first two words' loudest: the word starts
    where that voice is heard. The time it left was read by the decoder and stays held."""
    # other people talking (-40 dB, bursts to -35) until the speaker's onset (-28 dB, two
    # frames) at 2.0 s, then the voice (-20 dB)
    crowd = _heard([(1.3, -40.0), (0.2, -35.0), (0.5, -40.0), (2 * FRAME_S, -28.0), (2.0, -20.0)])
    words = [Word(1.0, 2.06, " He", 0.9), Word(2.06, 2.4, " began", 0.9), Word(2.4, 2.7, " a", 0.9)]
    first, second, _ = trim_words_to_speech(words, crowd)
    assert first.start == pytest.approx(2.0, abs=FRAME_S) and second.start >= first.start
    # held from where the first-word rule left it: twice the median word before its end
    assert first.decoded_from == pytest.approx(2.06 - 2 * 0.34, abs=FRAME_S)
    segment = Segment(first.start, 2.7, "He began a", (first, second, _))
    assert held_span(segment)[0] == first.decoded_from
    # the first text of a region opened by the talk goes no further back than the voice
    (seg,) = start_at_onsets([Segment(2.0, 2.7, "He began", (Word(2.0, 2.06, " He", 0.9), words[1]))], crowd)
    assert seg.start == pytest.approx(2.0, abs=FRAME_S)


def test_the_first_word_after_a_pause_inside_a_segment_is_a_first_word_too() -> None:
    """A decoder segment can hold two sentences with a pause between them; cut there, the
    second opens a segment of its own, and its first word gets a first word's rules. In a
    crowd the alignment had put "Author" 1.5 s on the talk before its sentence (the voice at
    126.16 s, the segment at 124.35 s: bench ``babble`` seed 96)."""
    crowd = _heard([(1.0, -20.0), (1.6, -40.0), (0.2, -35.0), (1.2, -40.0), (2.0, -20.0)])
    words = [
        Word(0.2, 0.8, " longer.", 0.9),
        Word(2.0, 3.5, " Author", 0.9),  # 1.2 s after "longer.", all of it on the talk
        Word(4.1, 4.4, " of", 0.9),
        Word(4.4, 4.6, " the", 0.9),
    ]
    placed = trim_words_to_speech(words, crowd)
    assert placed[0].start == pytest.approx(0.2, abs=FRAME_S)
    author = placed[1]
    assert author.end == pytest.approx(4.1, abs=FRAME_S) and author.start >= 4.0 - 0.7
    assert author.decoded_from is not None
    (_, second) = split_segment(Segment(0.2, 4.6, "longer. Author of the", tuple(placed)))
    assert second.start == pytest.approx(author.start)


def test_a_first_word_its_time_does_not_hold_goes_to_the_word_after_it() -> None:
    """In a crowd the alignment can put a sentence's whole first word on the talk before it
    (1.5 s of it, then a gap to the second word). Nothing in its time rises 10 dB over the
    floor while the second word does: it ends where the second word starts, lasting the
    segment's median word at most. The time it left was read by the decoder, which wrote
    nothing of it: it stays held, as it was, and the talk there is not decoded again."""
    words = [Word(0.0, 1.5, " It", 0.9), Word(2.5, 2.7, " was", 0.9), Word(2.7, 3.0, " the", 0.9)]
    # other people talking (-40 dB, bursts to -34) until the speaker (-20 dB) at 2.3 s
    crowd = _heard([(0.7, -40.0), (0.2, -34.0), (1.4, -40.0), (2.0, -20.0)])
    first, second, _ = trim_words_to_speech(words, crowd)
    assert (first.start, first.end) == (pytest.approx(2.3, abs=FRAME_S), pytest.approx(2.5, abs=FRAME_S))
    # held from where it was (its first 0.9 s already cut off: twice the median word)
    assert first.decoded_from == pytest.approx(0.9, abs=FRAME_S) and second.decoded_from is None
    segment = Segment(first.start, 3.0, "It was the", (first, second, _))
    assert uncovered_speech([segment], crowd) == []
    assert uncovered_speech([replace(segment, words=(replace(first, decoded_from=None), second, _))], crowd)
    # where it stays: a quiet room, the word 45 dB over the floor before a pause; a soft
    # speaker whose next word does not rise either (both 5 dB over the floor around them)
    quiet = _heard([(0.4, -70.0), (0.5, -25.0), (1.6, -70.0), (1.5, -20.0)])
    soft = _heard([(0.4, -45.0), (0.5, -40.0), (1.6, -45.0), (1.5, -40.0)])
    for room, at in ((quiet, 0.4), (soft, 0.4)):
        first = trim_words_to_speech([Word(0.4, 0.9, " And", 0.9), *words[1:]], room)[0]
        assert (first.start, first.end) == (pytest.approx(at, abs=FRAME_S), pytest.approx(0.9, abs=FRAME_S))
        assert first.decoded_from is None


def test_segments_are_cut_at_pauses_and_to_at_most_10_s() -> None:
    words = [Word(t, t + 0.4, f" w{i}", 0.9) for i, t in enumerate(np.arange(0.0, 8.0, 0.5))]
    words += [Word(t, t + 0.4, f" v{i}.", 0.9) for i, t in enumerate(np.arange(10.0, 24.0, 0.5))]
    parts = split_segment(Segment(0.0, 24.0, "x", tuple(words)))
    assert parts[0].words[-1].text == " w15" and parts[1].words[0].text == " v0."  # the 2.1 s pause
    assert all(p.end - p.start <= MAX_SEGMENT_S for p in parts)
    assert [w for p in parts for w in p.words] == words  # nothing lost, order kept
    for a, b in itertools.pairwise(parts):
        assert a.end <= b.start
    assert all(
        b.start - a.end <= MAX_PAUSE_S for p in parts for a, b in zip(p.words, p.words[1:], strict=False)
    )
    assert split_segment(Segment(0.0, 1.0, "plain")) == [Segment(0.0, 1.0, "plain")]


def _said(text: str, start: float = 0.0) -> Segment:
    """A segment of ``text`` with a word every 0.3 s, each 0.25 s long."""
    words = tuple(
        Word(round(start + 0.3 * i, 3), round(start + 0.3 * i + 0.25, 3), " " + w, 0.9)
        for i, w in enumerate(text.split())
    )
    return Segment(start, words[-1].end, text, words)


def test_a_segment_is_cut_into_its_sentences() -> None:
    # speakers taking turns 0.1 s apart: Whisper wrote both in one segment (back to back, seed 42)
    seg = _said("He could wait no longer. He hoped there would be stew. What? No!", start=0.74)
    parts = at_sentence_ends([seg])
    assert [p.text for p in parts] == [
        "He could wait no longer.",
        "He hoped there would be stew.",
        "What?",
        "No!",
    ]
    assert parts[0].start == seg.start and parts[-1].end == seg.end
    assert parts[1].start == parts[1].words[0].start == pytest.approx(0.74 + 5 * 0.3)
    assert [w for p in parts for w in p.words] == list(seg.words)  # nothing lost, order kept
    assert all(a.end <= b.start for a, b in itertools.pairwise(parts))
    # no sentence ends at a title, an initial or an initialism, nor before a word in lower case
    for whole in (
        "And Mr. John Dashwood had then leisure",
        "Written by J. K. Rowling",
        "He joined the U.S. Army in June",
        "Author of the danger trail, Philip Steels, etc. and more",
        '"Go." he said',
    ):
        assert at_sentence_ends([_said(whole)]) == [_said(whole)]
    assert [p.text for p in at_sentence_ends([_said('He said "Go." Then he left.')])] == [
        'He said "Go."',
        "Then he left.",
    ]
    # a start moved past its first sentence's words (in_order: the same start as the segment
    # before) never ends a part before it starts
    late = replace(_said("Yes. No."), start=0.27)
    assert [(p.start, p.end) for p in at_sentence_ends([late])] == [(0.27, 0.27), (0.3, 0.55)]
    # cut where the words' 32 ms frames meet (each word's end rounded up, the next start
    # down): a sentence ends where the next one starts, with its last word
    framed = [replace(w, end=round(w.end + 0.082, 3)) for w in _said("Right. Go on. Thanks.").words]
    parts = at_sentence_ends([Segment(0.0, framed[-1].end, "Right. Go on. Thanks.", tuple(framed))])
    assert [p.text for p in parts] == ["Right.", "Go on.", "Thanks."]
    assert [(p.start, p.end) for p in parts] == [(0.0, 0.3), (0.3, 0.9), (0.9, 1.232)]
    assert all(p.words[-1].end <= p.end for p in parts)
    # a sentence whose first word starts where the one before it does (a word moved off a
    # pause onto the next onset, the transformers engine's "Two." before "When forty
    # winters") cannot be cut from it by its times: kept whole
    two = (
        Word(90.784, 91.104, " Two.", 0.9),
        Word(90.784, 91.2, " When", 0.9),
        Word(91.2, 91.5, " forty", 0.9),
    )
    assert at_sentence_ends([Segment(90.784, 91.5, "Two. When forty", two)]) == [
        Segment(90.784, 91.5, "Two. When forty", two)
    ]
    # a segment whose words do not spell its text stays whole
    clipped = replace(seg, words=seg.words[:7])
    assert at_sentence_ends([clipped]) == [clipped]
    assert at_sentence_ends([Segment(0.0, 2.0, "No words. Two sentences.")]) == [
        Segment(0.0, 2.0, "No words. Two sentences.")
    ]


def test_segments_are_put_in_order_one_after_another() -> None:
    first = _said("No. Firefox.", start=82.0)
    later = Segment(83.0, 84.0, "He could.", (Word(83.0, 84.0, " He could.", 0.9),))
    same = Segment(82.0, 82.9, "Firefox.", (Word(82.0, 82.9, " Firefox.", 0.9),))
    ordered = in_order([later, first, same])  # sorted by start, those with one start as they came
    assert all(a.end <= b.start for a, b in itertools.pairwise(ordered))
    # of two with the same start, the second begins where the first ends, its words with it
    assert [s.text for s in ordered] == ["No. Firefox.", "Firefox.", "He could."]
    moved = ordered[1]
    assert moved.start == first.end and all(moved.start <= w.start for w in moved.words)


def test_a_segment_cut_short_by_the_next_keeps_all_its_words() -> None:
    # bench `babble` seed 18: the next segment, timed from the talkers, starts where "him."
    # does; cut there, the segment's text held "him." and its words did not
    words = (
        Word(165.12, 165.504, " Belly", 0.9),
        Word(165.472, 166.016, " counseled", 0.9),
        Word(166.016, 166.2, " him.", 0.9),
    )
    said = Segment(165.12, 166.2, "Belly counseled him.", words)
    talk = Segment(166.016, 167.104, "Thank you.", (Word(166.016, 167.104, " Thank you.", 0.5),))
    cut, _ = in_order([said, talk])
    assert cut.end == talk.start and "".join(w.text for w in cut.words).strip() == cut.text
    assert all(cut.start <= w.start < w.end <= cut.end for w in cut.words), cut.words
    assert all(a.end <= b.start for a, b in itertools.pairwise(cut.words[1:]))
    assert cut.words[0] == words[0]  # the words before it as aligned


def test_a_word_a_moved_segment_start_passes_keeps_some_time() -> None:
    # bench `speech` seed 0: a window's last word aligned onto the next sentence's first
    # speech, so both segments start at once; the second's "He" ended before the first did
    last = Segment(526.624, 526.752, 'forever."', (Word(526.624, 526.752, ' forever."', 0.8),))
    words = (
        Word(526.624, 526.688, " He", 0.9),
        Word(526.688, 527.008, " hoped", 0.9),
        Word(527.008, 527.2, " so", 0.9),
    )
    said = Segment(526.624, 527.2, "He hoped so", words)
    _, moved = in_order([last, said])
    assert moved.start == last.end == moved.words[0].start
    assert all(w.end > w.start for w in moved.words), moved.words  # none of 0 s
    assert [w.text for w in moved.words] == [" He", " hoped", " so"]
    assert all(a.end <= b.start for a, b in itertools.pairwise(moved.words))
    assert moved.words[1].end == 527.008 and moved.words[2] == words[2]  # the rest as aligned


def test_uncovered_speech_is_found_and_reported() -> None:
    # speech 1-4 s, 6-6.5 s (too short to report), 8-11 s
    activity = _activity(
        [(1.0, 0.02), (3.0, 0.9), (2.0, 0.02), (0.5, 0.9), (1.5, 0.02), (3.0, 0.9), (1.0, 0.02)]
    )
    segments = [Segment(1.0, 4.0, "first")]
    (gap,) = uncovered_speech(segments, activity)
    assert gap[0] * FRAME_S == pytest.approx(8.0, abs=0.05) and gap[1] * FRAME_S == pytest.approx(
        11.0, abs=0.05
    )
    cov = coverage(segments, activity, [gap])
    assert cov.speech_sec == pytest.approx(6.5, abs=0.1) and cov.covered_sec == pytest.approx(3.0, abs=0.1)
    assert cov.uncovered == ((pytest.approx(8.0, abs=0.05), pytest.approx(11.0, abs=0.05)),)
    assert uncovered_speech([*segments, Segment(8.1, 10.9, "second")], activity) == []


def _merge(have: list[Segment], found: list[Segment], activity: VoiceActivity | None = None) -> list[Segment]:
    """:func:`merge_segments` with a VAD that hears speech where every segment stands
    (those there and those found) and pauses between them, unless ``activity`` is given."""
    if activity is None:
        spans: list[tuple[float, float]] = []
        for seg in sorted([*have, *found], key=lambda seg: seg.start):
            if spans and seg.start <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(spans[-1][1], seg.end))
            else:
                spans.append((seg.start, seg.end))
        activity = _speech_at(spans, end=spans[-1][1] + 1.0)
    return merge_segments(have, found, activity)


def test_merging_keeps_order_and_drops_what_was_decoded_twice() -> None:
    have = [Segment(0.0, 3.0, "a"), Segment(10.0, 12.0, "c")]
    found = [Segment(5.0, 7.0, "b"), Segment(10.2, 11.8, "c again")]
    assert [s.text for s in _merge(have, found)] == ["a", "b", "c"]
    # two windows of one round that held the same speech: what the first found stands
    twice = [Segment(5.0, 7.0, "so my fellow americans"), Segment(5.1, 6.9, "my fellow Americans")]
    assert [s.text for s in _merge(have, twice)] == ["a", "so my fellow americans", "c"]
    # the same words again, timed elsewhere (the first pass had them a few seconds off)
    have = [Segment(0.0, 4.0, "For the twentieth time that evening, the two men shook hands.")]
    again = [Segment(6.0, 9.0, "the two men shook hands"), Segment(9.5, 10.0, "Lord!")]
    assert [s.text for s in _merge(have, again)][1:] == ["Lord!"]
    # one word: a duplicate only where the segment before ends with it or the one after
    # starts with it, not wherever the same common word stands near
    have = [Segment(0.0, 4.0, "slow and slightly lower."), Segment(6.0, 8.0, "Saying some words")]
    after = Segment(11.0, 13.0, "Here's some more words.")
    lost = Segment(9.0, 9.4, "and")
    assert [s.text for s in _merge([*have, after], [lost])][2] == "and"
    glued = [have[0], Segment(6.0, 8.4, "Saying some words and"), after]  # its word, timed early
    assert [s.text for s in _merge(glued, [lost])] == [s.text for s in glued]
    assert len(_merge([*have, Segment(11.0, 13.0, "And here's more.")], [lost])) == 3
    # several words: next to their place too, not wherever they stand within seconds (bench
    # `short_pauses` seed 0: a clip's last words said again alone 8 s later, found again)
    have = [
        Segment(133.8, 138.1, "For a full hour he had paced up and down, but he could wait no longer."),
        Segment(145.7, 145.9, "He could"),
    ]
    found_again = Segment(145.9, 146.7, "wait no longer.")
    assert [s.text for s in _merge(have, [found_again])][-1] == "wait no longer."
    assert len(_merge(have[:1], [found_again])) == 1  # the segment before holds them
    # nor inside the segment after (bench `speech` seed 23: a sentence said just before a
    # clip that ends with the same words)
    have = [
        Segment(239.3, 240.3, "Thanks."),
        Segment(246.4, 250.8, "For a full hour, but he could wait no longer."),
    ]
    said = Segment(243.4, 244.5, "He could wait no longer.")
    assert [s.text for s in _merge(have, [said])][1] == "He could wait no longer."
    assert len(_merge([have[0], Segment(246.4, 248.0, "he could wait no longer, for an hour")], [said])) == 2
    # nor the whole of a segment with a pause between: it stands on speech of its own, so
    # the words were said twice (held-out Common Voice clips laid out as `short_pauses`:
    # "Firefox." twice, 10 s apart; the second was found again and dropped)
    have = [Segment(32.29, 32.70, "Firefox."), Segment(53.66, 53.79, "no")]
    repeated = Segment(42.21, 42.62, "Firefox")
    assert [s.text for s in _merge(have, [repeated])] == ["Firefox.", "Firefox", "no"]
    assert len(_merge(have, [Segment(50.0, 50.2, "No.")])) == 3
    assert len(_merge([Segment(30.0, 32.7, "Open it in Firefox.")], [repeated])) == 1
    # ... but with no pause between, the same words may be timed early: in a crowd (bench
    # `babble` seed 21) "He could" was aligned on the talk a second before it was said
    have = [Segment(32.54, 34.40, "He could"), Segment(35.62, 36.48, "wait no longer.")]
    crowd = _speech_at([(29.0, 49.0)], end=50.0)
    assert len(_merge(have, [Segment(35.46, 35.62, "He could")], crowd)) == 2
    # found at the very start of a segment that ends with its words: there already (held-out
    # `short_pauses` seed 31: a window's loop wrote "No. Firefox." on one answer; decoded
    # again, "Firefox." came back from the same instant and stood beside it)
    answer = (Word(82.08, 82.24, " No.", 0.7), Word(82.24, 82.272, " Firefox.", 0.9))
    have = [Segment(82.08, 82.272, "No. Firefox.", answer)]
    at_its_start = Segment(82.08, 82.496, "Firefox.", (Word(82.08, 82.496, " Firefox.", 0.6),))
    assert [s.text for s in _merge(have, [at_its_start])] == ["No. Firefox."]


def test_text_found_again_keeps_only_the_words_said_where_no_segment_stands() -> None:
    # bench `speech` seed 7: "um this is me talking really slow and slightly", spoken
    # slowly; the first pass kept "This is me" and skipped the rest. The region was decoded
    # again in a window that also held "This is me", and came back as one segment that
    # starts with a misreading of it. Kept whole, it overlapped "This is me" and was cut
    # there: its new words timed over the old speech, their own speech reported uncovered.
    have = [Segment(362.59, 364.67, "but who cares?"), Segment(366.11, 366.56, "This is me")]
    spoken = [(" does", 364.67, 366.11), (" need", 366.11, 366.40), (" to", 366.56, 366.9)]
    spoken += [(" be", 366.9, 367.1), (" talking", 367.1, 367.6), (" really", 367.6, 368.0)]
    spoken += [(" slow", 368.0, 368.4), (" and", 368.4, 368.6), (" slightly", 368.6, 368.96)]
    words = tuple(Word(a, b, t, 0.8) for t, a, b in spoken)
    found = Segment(364.67, 368.96, "does need to be talking really slow and slightly", words)
    merged = _merge(have, [found])
    assert [s.text for s in merged] == [
        "but who cares?",
        "does",
        "This is me",
        "to be talking really slow and slightly",
    ]
    for a, b in itertools.pairwise(merged):
        assert a.end <= b.start  # nothing overlaps, so nothing needs cutting
    # a found segment clear of the others is kept as it was
    assert _merge(have, [Segment(367.1, 367.6, "talking", words[4:5])])[-1].text == "talking"


def test_text_found_again_is_judged_made_up_on_the_words_kept() -> None:
    # bench `sparse20` seed 4: decoded again from the last word of "... with
    # self-substantial fuel,", the window heard the tail of "self-substantial" as "the
    # substantial" (p 0.04 and 0.02, one 30 ms): judged with them, the sentence after them
    # looked made up and was lost ("making a famine where abundance lies, ...")
    have = [Segment(380.74, 386.46, "feeds thy light's flame with self-substantial fuel,")]
    spoken = [(" the", 385.60, 385.98, 0.04), (" substantial", 385.95, 385.98, 0.02)]
    spoken += [(" fuel,", 385.95, 386.50, 0.99), (" making", 387.07, 387.42, 0.95)]
    spoken += [(" a", 387.39, 387.65, 0.99), (" famine", 387.62, 388.03, 0.99)]
    spoken += [(" where", 388.0, 388.38, 0.93), (" abundance", 388.35, 388.8, 0.98)]
    spoken += [(" lies,", 388.77, 389.34, 0.99)]
    words = tuple(Word(a, b, t, p) for t, a, b, p in spoken)
    text = "the substantial fuel, making a famine where abundance lies,"
    found = Segment(385.60, 389.34, text, words, made_up=looks_made_up(words))
    assert found.made_up  # judged whole
    merged = _merge(have, [found])
    assert [s.text for s in merged] == [have[0].text, "making a famine where abundance lies,"]
    # new words that look made up on their own are still left out
    breath = (
        Word(385.95, 386.5, " fuel,", 0.99),
        Word(387.0, 387.03, " Thank", 0.1),
        Word(387.03, 387.06, " you.", 0.2),
    )
    found = Segment(385.95, 387.06, "fuel, Thank you.", breath, made_up=looks_made_up(breath))
    assert _merge(have, [found]) == have


def test_uncovered_regions_with_text_between_them_get_windows_of_their_own() -> None:
    # uncovered speech 1-2 s and 3-4 s (1 s apart), then 12-13 s, which a segment holds,
    # then uncovered 24-25 s: across the text, the last region is decoded alone
    activity = _speech_at([(1.0, 2.0), (3.0, 4.0), (12.0, 13.0), (24.0, 25.0)], end=26.0)
    regions = [activity.regions[i] for i in (0, 1, 3)]
    held = [Segment(12.0, 13.0, "Said.")]
    windows = recovery_windows(regions, held, activity, activity.options)
    assert len(windows) == 2  # the first two (1 s apart) together, the last alone
    assert windows[0].start_s < 1.0 < 3.0 < windows[0].end_s < 5.0 and windows[1].start_s > 23.0


def test_skipped_regions_with_nothing_said_between_them_are_decoded_again_together() -> None:
    # a window's decoder stopped after its first sentence (0-2 s): the speech it left, at
    # 20-23 s and 40-42 s with nothing said between, is what Whisper's seek would decode
    # next: one window of both, not a 30 s window each
    activity = _speech_at([(0.5, 2.0), (20.0, 23.0), (40.0, 42.0)], end=43.0)
    regions = activity.regions[1:]
    (window,) = recovery_windows(regions, [Segment(0.5, 2.0, "Thanks.")], activity, activity.options)
    assert len(window.pieces) == 2 and window.start_s < 20.0 and window.end_s > 42.0
    # the same regions with a sentence found between them: a window each
    assert len(recovery_windows(regions, [Segment(30.0, 31.0, "Hello.")], activity, activity.options)) == 2


def test_speech_running_on_from_a_segment_is_decoded_again_from_its_last_word() -> None:
    # bench `speech` seed 2: "... slightly lower in intensity." aligned to end at 30.37 s
    # while the slow speaker drew the word out (and said "uh") until 31.9 s. Decoded from
    # where the uncovered part starts, the tail came back as "city."; decoded from the
    # word's start, the word is heard whole (and dropped as already there)
    spoken = [(" This", 25.44, 25.8), (" is", 25.8, 26.0), (" me", 26.0, 26.3)]
    spoken += [(" in", 28.9, 29.5), (" intensity.", 29.5, 30.37)]
    words = tuple(Word(a, b, t, 0.9) for t, a, b in spoken)
    held = [Segment(25.44, 30.37, "This is me in intensity.", words)]
    activity = _speech_at([(25.4, 31.9)], end=40.0)
    regions = uncovered_speech(held, activity, RETRY_MIN_S)
    assert regions and regions[0][0] * FRAME_S > 30.37  # the tail looks uncovered
    (window,) = recovery_windows(regions, held, activity, activity.options)
    assert window.start_s <= 29.5 and window.end_s >= 31.9
    # after a pause the uncovered speech is an utterance of its own: decoded from its start
    activity = _speech_at([(25.4, 30.4), (31.0, 31.9)], end=40.0)
    regions = uncovered_speech(held, activity, RETRY_MIN_S)
    (window,) = recovery_windows(regions, held, activity, activity.options)
    assert 30.4 < window.start_s < 31.0
    # a segment without word times (the transformers engine unasked) leaves it as it is
    unworded = [Segment(25.44, 30.37, "This is me in intensity.")]
    activity = _speech_at([(25.4, 31.9)], end=40.0)
    regions = uncovered_speech(unworded, activity, RETRY_MIN_S)
    (window,) = recovery_windows(regions, unworded, activity, activity.options)
    assert window.start_s > 30.0


def test_speech_a_decoder_left_after_its_seek_point_is_decoded_again_however_short() -> None:
    # bench `slow` seed 90: "... in his power to do" then "<|23.52|><|23.52|>": the decoder
    # stopped where "for them" starts (171.45 s) and its piece ends at 172.45 s; the speech
    # runs on to 172.09 s, 0.67 s after "do", under RETRY_MIN_S once the segment's margin is
    # counted: the coverage check alone decoded it nowhere and reported it nowhere
    spoken = [(" power", 170.66, 170.98), (" to", 170.94, 171.2), (" do", 171.17, 171.42)]
    held = [Segment(163.84, 171.42, "in his power to do", tuple(Word(a, b, t, 0.9) for t, a, b in spoken))]
    activity = _speech_at([(163.5, 172.09), (175.5, 178.9)], end=180.0)
    later = Segment(175.5, 178.9, "He might even have been made amiable himself.")
    decoded: list[Window] = []

    def decode(windows: list[Window]) -> list[Segment]:
        decoded.extend(windows)
        heard = [(" do", 171.17, 171.42), (" for", 171.45, 171.7), (" them.", 171.7, 172.05)]
        return [Segment(171.17, 172.05, "do for them.", tuple(Word(a, b, t, 0.9) for t, a, b in heard))]

    assert recover_uncovered([*held, later], activity, decode, rounds=2) == ([*held, later], 0)
    assert decoded == []
    segments, again = recover_uncovered([*held, later], activity, decode, 2, unwritten=[(171.45, 172.45)])
    assert [s.text for s in segments] == ["in his power to do", "for them.", later.text] and again == 1
    # decoded with "do" before it (the speech runs on from the segment), not after the pause
    (window,) = decoded
    assert window.start_s <= 171.17 and 172.09 <= window.end_s < 175.5
    # no speech to speak of after the seek point (a breath): nothing decoded again
    decoded.clear()
    breath = _speech_at([(163.5, 171.62), (175.5, 178.9)], end=180.0)
    assert recover_uncovered([*held, later], breath, decode, 2, unwritten=[(171.45, 172.45)])[1] == 0
    # what the coverage check decodes again anyway is left to it: the same windows
    long_tail = _speech_at([(163.5, 173.5), (175.5, 178.9)], end=180.0)
    recover_uncovered([*held, later], long_tail, decode, 2)
    alone = list(decoded)
    decoded.clear()
    recover_uncovered([*held, later], long_tail, decode, 2, unwritten=[(171.45, 174.0)])
    assert decoded == alone != []


def test_a_first_pass_window_that_came_back_empty_is_not_decoded_again_whole() -> None:
    # speech 1-2 s and 4-5 s, one first-pass window, whose decoder wrote nothing (noise, a
    # language it cannot read): recovery would pack the same two regions into the same
    # window, and greedy decoding would give the same nothing again
    activity = _speech_at([(1.0, 2.0), (4.0, 5.0)], end=6.0)
    first_pass = plan_windows(activity.probs, activity.n_samples, activity.options)
    decoded: list[Window] = []

    def decode(windows: list[Window]) -> list[Segment]:
        decoded.extend(windows)
        return []

    assert recover_uncovered([], activity, decode, rounds=2, first_pass=first_pass) == ([], 0)
    assert decoded == []
    recover_uncovered([], activity, decode, rounds=2)  # without it: the same window again
    assert decoded == first_pass


def test_recovery_never_decodes_the_same_window_twice() -> None:
    # speech A 1.0-2.2 s and B 3.2-4.4 s (one recovery window: 1 s apart), a sentence
    # already held at 12-13 s, C 24.4-25.6 s alone
    activity = _speech_at([(1.0, 2.2), (3.2, 4.4), (12.0, 13.0), (24.4, 25.6)], end=26.6)
    held = Segment(12.0, 13.0, "Said.")
    decoded: list[Window] = []

    def decode(windows: list[Window]) -> list[Segment]:
        decoded.extend(windows)  # only A is ever found: B and C stay uncovered
        return [Segment(1.0, 2.2, "found") for w in windows if w.start_s < 1.5 < w.end_s]

    segments, again = recover_uncovered([held], activity, decode, rounds=2)
    assert [s.text for s in segments] == ["found", "Said."]
    # round 1: A+B together, C alone; round 2: B alone (a window not decoded yet), not C again
    assert again == len(decoded) == 3 and len(set(decoded)) == 3
    assert decoded[2].start_s > 2.2 and decoded[2].end_s < 10.0


def test_speech_a_window_found_its_neighbours_in_and_left_is_decoded_again_alone() -> None:
    # the same sentence said four times, 5 s apart, none of it held: recovery packs the
    # four (nothing said between them), and the decoder writes the sentence once, as
    # Whisper writes a sentence heard again fewer times than said; packed again, the three
    # left came back once more (bench.inputs.build_said_again: 4-8 of 9-13 lost)
    said = [(1.0, 3.0), (8.0, 10.0), (15.0, 17.0), (22.0, 24.0)]
    activity = _speech_at(said, end=26.0)
    decoded: list[Window] = []

    def decode(windows: list[Window]) -> list[Segment]:
        decoded.extend(windows)
        return [Segment(w.start_s + 0.4, w.start_s + 2.4, "He could wait no longer.") for w in windows]

    segments, again = recover_uncovered([], activity, decode, rounds=2)
    assert [s.start for s in segments] == pytest.approx([a for a, _ in said], abs=0.1)
    assert len(decoded[0].pieces) == 4 and [len(w.pieces) for w in decoded[1:]] == [1, 1, 1] and again == 4

    # a window that found nothing is not split: in a crowd the talk in the pauses, decoded
    # alone, came back as sentences no one said (bench `babble` seed 0)
    def hears_nothing(windows: list[Window]) -> list[Segment]:
        return []

    assert recover_uncovered([], activity, hears_nothing, rounds=2) == ([], 1)


def test_short_speech_alone_between_long_pauses_is_decoded_again() -> None:
    # "Author of the danger trail," 1-4 s, then "Philip Steels," (0.8 s) 4 s later, alone
    activity = _activity([(1.0, 0.02), (3.0, 0.9), (4.0, 0.02), (0.8, 0.9), (2.0, 0.02)])
    have = [Segment(1.0, 4.0, "Author of the danger trail,")]
    decoded: list[Window] = []

    def decode(windows: list[Window]) -> list[Segment]:
        decoded.extend(windows)
        return [Segment(8.0, 8.8, "Philip Steels,")]

    segments, again = recover_uncovered(have, activity, decode, rounds=2)
    assert [s.text for s in segments] == ["Author of the danger trail,", "Philip Steels,"] and again == 1
    assert 7.0 < decoded[0].start_s < 8.0 < 8.8 < decoded[0].end_s < 10.0


def _short_utterances(segments: list[Segment], activity: VoiceActivity) -> list[Window]:
    return short_utterance_windows(uncovered_speech(segments, activity, SILERO_MIN_SPEECH_S), activity)


def test_a_short_utterance_left_without_text_is_decoded_again_with_the_speech_after_it() -> None:
    # 20 s of speech, "And so" (0.3 s) after a 2 s pause, a 4 s pause, then 15 s more;
    # "And so" came back without text
    activity = _activity(
        [(1.0, 0.02), (20.0, 0.9), (2.0, 0.02), (0.3, 0.9), (4.0, 0.02), (15.0, 0.9), (1.0, 0.02)]
    )
    have = [Segment(1.0, 21.0, "twenty seconds of speech."), Segment(27.3, 42.3, "my fellow Americans")]
    (window,) = _short_utterances(have, activity)
    # "And so" with the speech that follows it (at most 5 s of it), not alone
    assert window.pieces[0][0] / SAMPLE_RATE == pytest.approx(23.0 - 0.4, abs=0.05)
    assert window.end_s == pytest.approx(27.3 + 5.0 + 0.4, abs=0.1) and window.duration_s < 7.0
    decoded: list[Window] = []

    def decode(windows: list[Window]) -> list[Segment]:
        decoded.extend(windows)
        words = (
            Word(23.0, 23.15, " And"),
            Word(23.15, 23.3, " so"),
            Word(27.3, 27.5, " my"),
            Word(27.5, 27.9, " fellow"),
        )
        return [Segment(23.0, 27.9, "And so my fellow", words)]

    segments, again = recover_uncovered(have, activity, decode, rounds=2)
    # only the words said where no segment stood are kept
    assert [s.text for s in segments] == ["twenty seconds of speech.", "And so", "my fellow Americans"]
    assert decoded == [window] and again == 1
    # held by a segment: no window
    assert _short_utterances([*have, Segment(23.0, 23.3, "And so")], activity) == []
    # the recording's last words ("no" after a pause): with the speech before them, the
    # 5 s of it nearest (held-out Common Voice clips: the last "no" was decoded nowhere)
    end = _activity([(1.0, 0.02), (20.0, 0.9), (2.0, 0.02), (0.3, 0.9), (4.0, 0.02)])
    (last,) = _short_utterances(have[:1], end)
    assert last.pieces[0][0] / SAMPLE_RATE == pytest.approx(21.0 - 5.0 - 0.4, abs=0.05)
    assert last.end_s == pytest.approx(23.3 + 0.4, abs=0.1) and last.duration_s < 7.0
    alone = _activity([(2.0, 0.02), (0.3, 0.9), (4.0, 0.02)])  # its first pass decoded just it
    assert _short_utterances([], alone) == []
    # the uncovered end (0.4 s) of a region a segment starts: most often its last word timed early
    activity = _activity([(1.0, 0.02), (24.0, 0.9), (4.0, 0.02), (10.0, 0.9), (1.0, 0.02)])
    have = [Segment(1.0, 24.3, "twenty-four seconds of"), Segment(29.0, 39.0, "ten more")]
    assert len(uncovered_speech(have, activity, 0.25)) == 1
    assert _short_utterances(have, activity) == []
    # 0.5 s or more: decoded again alone by the coverage check instead
    activity = _activity([(1.0, 0.02), (20.0, 0.9), (2.0, 0.02), (0.6, 0.9), (4.0, 0.02), (15.0, 0.9)])
    assert _short_utterances([Segment(1.0, 21.0, "a"), Segment(27.6, 42.6, "b")], activity) == []


def test_a_short_utterance_is_decoded_again_with_whole_regions_only() -> None:
    # "Ask what" (0.3 s) after a pause, "you can do for your country." (2.5 s), a 3.5 s
    # pause, then "He hoped there would be stew for dinner, ..." (6 s): the window ends
    # after "country.", not 2.5 s into the next sentence (where the decoder looped)
    activity = _speech_at([(1.0, 12.0), (14.0, 14.3), (14.8, 17.3), (20.8, 26.8)], end=28.0)
    have = [
        Segment(1.0, 12.0, "twelve seconds of speech."),
        Segment(14.8, 17.3, "you can do for your country."),
    ]
    have.append(Segment(20.8, 26.8, "He hoped there would be stew for dinner, turnips and carrots."))
    (window,) = _short_utterances(have, activity)
    assert window.pieces[0][0] / SAMPLE_RATE == pytest.approx(14.0 - 0.4, abs=0.05)
    assert window.end_s == pytest.approx(17.3 + 0.4, abs=0.1)
    # the next sentence close enough to fit whole in the 5 s: it is joined too
    activity = _speech_at([(1.0, 12.0), (14.0, 14.3), (14.8, 17.3), (20.8, 22.8)], end=24.0)
    (window,) = _short_utterances(have[:2], activity)
    assert window.end_s == pytest.approx(22.8 + 0.4, abs=0.1)


def test_first_word_after_a_pause_starts_with_its_segment() -> None:
    # Whisper's timestamps: "For a full hour" is 13.8-15.0 s; the alignment handed the pause
    # to "For" and started it at 12.0 s, at the end of the sentence before
    segment = Segment(13.8, 15.0, "For a full hour")
    words = [Word(12.0, 12.7, " For", 0.03), Word(13.85, 14.0, " a", 1.0), Word(14.0, 14.2, " full", 1.0)]
    words.append(Word(14.2, 14.5, " hour", 1.0))
    moved = within_segment(words, segment)
    assert moved[0].start == pytest.approx(13.8) and moved[0].end == pytest.approx(13.85)
    assert moved[1:] == words[1:]
    # in a recording with speech at 11-12.35 s and 13.8-15 s, the segment starts at 13.8 s
    activity = _activity([(11.0, 0.02), (1.35, 0.9), (1.45, 0.02), (1.2, 0.9), (1.0, 0.02)])
    (placed,) = place_words(segment, words, activity)
    assert placed.start == pytest.approx(13.8, abs=FRAME_S) and placed.text == "For a full hour"


def test_first_word_said_before_a_coarse_timestamp_starts_before_it() -> None:
    # "Lord, but I'm glad": speech from 103.42 s without a break; whisper-base's timestamp
    # opened the segment at 104.06 s, the alignment put "Lord" at 103.44-103.76 s
    activity = _activity([(103.4, 0.02), (2.65, 0.9), (1.0, 0.02)])
    segment = Segment(104.06, 106.05, "Lord, but I'm glad")
    words = [Word(103.44, 103.76, " Lord,", 0.8), Word(104.04, 104.14, " but", 0.9)]
    words += [Word(104.14, 104.44, " I'm", 0.9), Word(104.44, 104.62, " glad", 0.9)]
    # no pause before the timestamp: before it, but 0.62 s before is more than one word, so
    # its median word (0.24 s) before its end (openai-whisper's rule)
    kept = within_segment(words, segment, activity)
    assert kept[0].start == pytest.approx(103.76 - 0.24) and kept[0] == replace(words[0], start=kept[0].start)
    assert kept[1:] == words[1:]
    assert within_segment(words, segment)[0].start == pytest.approx(104.06)  # no VAD: moved
    (placed,) = place_words(segment, words, activity)
    assert placed.start == pytest.approx(103.52, abs=FRAME_S)
    # aligned at most TIMESTAMP_PREFERRED_S before it, the word keeps its start
    near = [replace(words[0], start=103.6), *words[1:]]
    assert within_segment(near, segment, activity) == near
    # aligned far before it (a filler, the sentence before): the timestamp, at most
    far = [replace(words[0], start=101.0, end=104.5), *words[1:]]
    first = within_segment(far, replace(segment, start=103.9), _activity([(106.0, 0.9)]))[0]
    assert first.start == pytest.approx(103.9)
    # across a pause (the "For" above) it still moves to the timestamp
    pause = _activity([(103.0, 0.02), (0.3, 0.9), (0.6, 0.02), (2.15, 0.9), (1.0, 0.02)])
    assert within_segment(words, segment, pause)[0].start == pytest.approx(104.06)


def test_last_word_carried_past_its_segment_onto_skipped_speech_moves_back() -> None:
    # speech seed 0, 20 s windows: the line ends at 191.52 s by Whisper's timestamps; the
    # alignment put its last word on the next sentence's speech (194.72-197.34 s), which the
    # decoder had skipped: moved back, that speech is uncovered and gets decoded again
    segment = Segment(184.67, 191.52, "and thine image dies with thee.")
    words = [Word(189.95, 190.43, " dies", 0.9), Word(190.43, 190.93, " with", 0.9)]
    words.append(Word(194.34, 197.54, ' thee."', 0.9))
    moved = within_segment(words, segment)
    assert moved[:2] == words[:2] and (moved[2].start, moved[2].end) == (190.93, 191.52)
    activity = _activity([(184.6, 0.02), (6.92, 0.9), (3.2, 0.02), (2.62, 0.9), (2.0, 0.02)])
    (placed,) = place_words(segment, words, activity)
    assert placed.end <= 191.52 + FRAME_S
    (start, end) = uncovered_speech([placed], activity)[-1]  # (the line's start: not in the test)
    assert start * FRAME_S == pytest.approx(194.72, abs=FRAME_S) and end * FRAME_S > 197.0


def test_a_last_word_aligned_right_before_the_next_segment_is_said_with_it() -> None:
    # held-out `quiet` seed 30: the decoder wrote "... might never die and" and then "So my
    # fellow Americans"; the alignment put "and" after a 1.4 s pause, running into "So":
    # JFK's "And so my fellow Americans". Moved back into its segment, it stood 1.5 s early
    segment = Segment(79.17, 85.09, "that thereby beauties rose might never die and")
    words = [Word(84.12, 84.52, " never", 1.0), Word(84.52, 84.98, " die", 0.99)]
    words.append(Word(86.37, 86.92, " and", 0.53))
    speech = _speech_at([(79.1, 85.0), (86.7, 88.6)], end=95.0)
    assert within_segment(words, segment, speech, then=86.92) == words
    assert within_segment(words, segment, speech)[-1].end == 85.09  # no segment after it: moved back
    assert within_segment(words, segment, speech, then=90.0)[-1].end == 85.09  # nor one that starts later
    # ... nor where speech is left after the word before it: said there, carried over the
    # pause by the path (bench `speech` seed 19, a sonnet line's "thee." before "Had he
    # married"), nor where it has no speech under it
    line_runs_on = _speech_at([(79.1, 85.6), (86.7, 88.6)], end=95.0)
    assert within_segment(words, segment, line_runs_on, then=86.92)[-1].end == 85.09
    in_the_pause = [*words[:2], Word(86.3, 86.6, " and", 0.53)]
    assert within_segment(in_the_pause, segment, speech, then=86.6)[-1].end == 85.09
    # through the window: "and" starts the speech it was said in, the sentence before ends
    # where it did
    window = Window(((70 * SAMPLE_RATE, 95 * SAMPLE_RATE),))
    so = Segment(86.75, 88.54, "So my fellow Americans")
    so_words = [Word(86.92, 87.24, " So", 0.07), Word(87.24, 87.62, " my", 0.9)]
    so_words += [Word(87.62, 87.98, " fellow", 1.0), Word(87.98, 88.54, " Americans", 0.8)]
    clock = WindowClock(window, speech)
    placed = in_order(place_window([(segment, words), (so, so_words)], clock, speech))
    assert [p.text for p in placed] == ["never die", "and", "So my fellow Americans"]
    assert placed[0].end <= 85.0 + FRAME_S and placed[1].start == pytest.approx(86.7, abs=FRAME_S)


def test_a_last_word_stretched_past_its_segment_over_skipped_words_ends_with_it() -> None:
    # sparse20 of bench seed 18: "... still more respectable than" ends at 407.73 s by
    # Whisper's timestamps; the alignment stretched "than" to 408.91 s over "he was", which
    # the decoder left out. Cut at the segment's end, that speech is uncovered and decoded again
    segment = Segment(403.01, 407.73, "he might have been made still more respectable than")
    words = [Word(406.81, 407.33, " respectable", 0.9), Word(407.33, 408.91, " than", 0.99)]
    moved = within_segment(words, segment)
    assert moved[0] == words[0] and (moved[1].start, moved[1].end) == (407.33, 407.73)
    activity = _activity([(403.0, 0.02), (5.67, 0.9), (3.0, 0.02)])  # speech 403.0-408.67 s
    (placed,) = place_words(segment, words, activity)
    assert placed.end <= 407.73 + FRAME_S
    (start, end) = uncovered_speech([placed], activity, RETRY_MIN_S)[-1]
    assert start * FRAME_S == pytest.approx(407.73 + COVER_MARGIN_S, abs=2 * FRAME_S)
    assert end * FRAME_S == pytest.approx(408.67, abs=FRAME_S)
    # Whisper-base's timestamps are coarse: a last word up to COVER_MARGIN_S past them is kept
    near = [words[0], Word(407.33, 407.73 + COVER_MARGIN_S - 0.02, " than", 0.99)]
    assert within_segment(near, segment) == near


def test_words_stay_as_aligned_when_the_segment_times_disagree_with_most_of_them() -> None:
    segment = Segment(0.0, 1.0, "one two three")  # timestamps far from where the words are
    words = [Word(5.0, 5.3, " one", 0.9), Word(5.3, 5.6, " two", 0.9), Word(5.6, 6.0, " three", 0.9)]
    assert within_segment(words, segment) == words


def test_made_up_text_is_recognised_by_its_words() -> None:
    # "Thank you for watching." decoded from a breath: three words of 30 ms
    made_up = Segment(25.0, 25.4, "Thank you for watching.")
    made_up = Segment(
        25.0,
        25.4,
        made_up.text,
        (
            Word(25.0, 25.35, " Thank", 0.29),
            Word(25.35, 25.38, " you", 0.99),
            Word(25.38, 25.41, " for", 0.34),
            Word(25.41, 25.44, " watching.", 0.74),
        ),
    )
    assert looks_made_up(made_up.words)
    # a real short word after a pause: spoken for 0.3 s, confidently
    assert not looks_made_up([Word(3.0, 3.3, " ask", 0.89)])
    assert looks_made_up([Word(3.0, 3.3, " um", 0.05)])
    assert not looks_made_up([Word(3.0, 3.3, " no"), Word(3.3, 3.5, " words")])  # nothing to judge by


def test_a_word_said_again_in_a_row_is_not_judged_by_its_length() -> None:
    """The alignment cannot part the same word said twice in a row: bench ``reverb`` seed
    96, found again in a hall, three "words," of 30 ms each, and the sentence dropped as
    made up. Their length is no sign of it; the decoder's doubt still is."""
    found = [Word(86.37, 86.59, " words,", 0.37), Word(86.91, 86.94, " words,", 0.9)]
    found += [Word(87.14, 87.17, " words,", 0.96), Word(87.39, 87.42, " words,", 0.83)]
    found += [Word(88.13, 88.83, " and", 0.72), Word(89.44, 89.92, " hbom.", 0.35)]
    found += [Word(90.14, 90.30, " Thanks!", 0.96)]
    assert not looks_made_up(found)
    # the same lengths for different words: made up, as Whisper's test says
    others = [replace(w, text=f" w{k}") for k, w in enumerate(found)]
    assert looks_made_up(others)
    # a word the decoder doubts is doubted however often it is said
    assert looks_made_up([Word(1.0, 1.03, " un", 0.07), Word(1.03, 1.06, " un", 0.05)])


def test_words_are_judged_as_the_alignment_timed_them() -> None:
    # "For a full hour ..." decoded again on its own (bench `speech`, seed 3): the alignment
    # times it from 53.02 s, the VAD hears its soft onset only at 53.41 s
    activity = _activity([(53.41, 0.02), (2.0, 0.9), (1.0, 0.02)])
    words = [Word(53.02, 53.16, " For", 0.54), Word(53.16, 53.28, " a", 0.98)]
    words += [Word(53.28, 53.48, " full", 0.98), Word(53.48, 53.84, " hour", 1.0)]
    words += [Word(53.84, 54.04, " he", 0.92), Word(54.04, 54.22, " had", 1.0)]
    words += [Word(54.22, 54.62, " paced.", 0.92)]
    segment = Segment(53.408, 54.62, "For a full hour he had paced.")  # snapped to the onset
    (placed,) = place_words(segment, words, activity)
    # moved onto the speech, "For" and "a" last a few ms: judged so, the sentence was
    # dropped; the words keep the score the alignment gave them, so judged again they pass
    assert placed.words[0].end - placed.words[0].start < 0.133
    assert looks_made_up([replace(w, anomaly=None) for w in placed.words])
    assert not placed.made_up and not looks_made_up(placed.words)
    # text made up from a breath keeps its mark through placing, and recovery drops it
    breath = [Word(25.0, 25.35, " Thank", 0.29), Word(25.35, 25.38, " you", 0.99)]
    breath += [Word(25.38, 25.41, " for", 0.34), Word(25.41, 25.44, " watching.", 0.74)]
    activity = _activity([(25.0, 0.02), (1.2, 0.9), (1.0, 0.02)])
    (thanks,) = place_words(Segment(25.0, 25.5, "Thank you for watching."), breath, activity)
    assert thanks.made_up
    segments, again = recover_uncovered([], activity, lambda windows: [thanks], rounds=1)
    assert segments == [] and again == 1


def test_text_that_looks_made_up_after_the_last_speech_is_left_out() -> None:
    # bench `inner_pauses` seed 13: the recording's last sentence ends at 162.98 s, and the
    # decoder wrote "Thank you." on the breath after it (0.2 s, no speech after it)
    activity = _activity([(160.48, 0.02), (2.5, 0.95), (2.4, 0.02)])
    thanks = [Word(163.136, 163.316, " Thank", 0.02), Word(163.316, 163.336, " you", 0.977)]
    thanks.append(Word(163.336, 163.336, ".", 0.8))  # as aligned
    assert looks_made_up(thanks) and not holds_speech(thanks, activity)
    assert place_words(Segment(163.136, 163.36, "Thank you."), thanks, activity) == []
    # the same words on speech are kept (the first pass keeps what looks made up where the
    # VAD hears speech: a short real word can look so), and so is a confident "Thank you."
    # in that silence
    on_speech = [replace(w, start=w.start - 2.0, end=w.end - 2.0) for w in thanks]
    (kept,) = place_words(Segment(161.1, 161.4, "Thank you."), on_speech, activity)
    assert kept.made_up and kept.text == "Thank you."
    meant = [Word(163.14, 163.4, " Thank", 0.9), Word(163.4, 163.7, " you.", 0.95)]
    assert not looks_made_up(meant)
    (said,) = place_words(Segment(163.1, 163.7, "Thank you."), meant, activity)
    assert said.text == "Thank you."


def test_a_word_of_no_length_holds_the_frame_it_stands_in() -> None:
    # bench `reverb` seed 90: the decoder wrote "Thanks.", and the alignment gave "Thanks" no
    # frame of its own (its full stop went to the next piece) at 70.080 s, 2190 frames of
    # 32 ms to the digit, inside the speech the VAD heard: it held no frame, looked made up
    # (a word of no length), and was left out as text made up in silence
    activity = _speech_at([(69.06, 70.3)], end=75.0)
    thanks = [Word(70.08, 70.08, " Thanks", 0.962), Word(74.048, 74.252, ".", 0.606)]
    assert frame_of(70.08) == frame_of(70.08, up=True)  # on a frame's edge
    assert looks_made_up(thanks) and holds_speech(thanks[:1], activity)
    (kept,) = place_words(Segment(69.912, 70.304, "Thanks."), thanks, activity, then=74.252)
    assert kept.text == "Thanks." and 69.06 <= kept.start <= 70.3
    # in silence it is still left out
    assert not holds_speech([Word(72.0, 72.0, " Thanks", 0.962)], activity)


def test_the_first_text_of_a_speech_region_starts_where_the_region_does() -> None:
    # speech 1.0-4.0 s and 6.0-9.0 s; Whisper timed "One," 0.4 s into the first region
    activity = _activity([(1.0, 0.0), (3.0, 0.9), (2.0, 0.0), (3.0, 0.9), (1.0, 0.0)])
    one = Segment(1.4, 1.9, "One,", (Word(1.4, 1.9, " One,", 0.9),))
    rest = Segment(2.0, 4.0, "from fairest creatures", (Word(2.0, 2.3, " from", 0.9),))
    late = Segment(6.3, 8.0, "we desire increase", (Word(6.3, 6.8, " we", 0.9),))
    moved = start_at_onsets([one, rest, late], activity)
    assert [s.start for s in moved] == [pytest.approx(1.0, abs=0.04), 2.0, pytest.approx(6.0, abs=0.04)]
    assert moved[0].words[0].start == moved[0].start and moved[0].words[0].end == 1.9
    # not the second text of a region (the speech before it is the first one's), nor so
    # far back that its first word would last longer than a word is ever spoken
    assert start_at_onsets([rest], activity)[0].start == pytest.approx(1.0, abs=0.04)
    far = Segment(3.5, 4.0, "increase", (Word(3.5, 3.9, " increase", 0.9),))
    assert start_at_onsets([far], activity) == [far]
    assert start_at_onsets([Segment(4.5, 5.5, "in a pause")], activity)[0].start == 4.5


def _decoded(text: str, start: float, end: float) -> tuple[Segment, TimedTokens]:
    return Segment(start, end, text), TimedTokens(start, end, [])


# Real speech that repeats itself (bench texts, the highest ratios of 488 segments)
REPEATING_SPEECH = [
    _decoded("and here are some more words, words, words, words, words.", 0.0, 4.45),
    _decoded("My girl, my girl, my girl, my girl.", 5.0, 7.1),
    _decoded(
        "I don't know where it's pouring, it's pouring, it's pouring, it's pouring like crazy.", 8.0, 10.7
    ),
]


def test_speech_that_repeats_itself_is_no_loop() -> None:
    assert not any(is_loop(seg.text) for seg, _ in REPEATING_SPEECH)
    assert without_loops(REPEATING_SPEECH) == REPEATING_SPEECH


def test_a_segment_that_loops_is_left_out() -> None:
    # beam 5 on a noisy phone call: "Oh," 33 times in 2.8 s, up to the token budget
    loop = _decoded("Oh, " * 33, 11.0, 13.8)
    assert is_loop(loop[0].text)
    assert without_loops([*REPEATING_SPEECH, loop]) == REPEATING_SPEECH
    assert without_loops([loop]) == without_loops([loop], ran_out=True) == []


def test_a_loop_of_whole_sentences_is_cut_out_of_its_window() -> None:
    # greedy decoding of the same call: two sentences again and again, each segment alone
    # no loop, the window's text one
    said = [
        _decoded("It's crazy, but I can't get anywhere today.", 0.0, 2.0),
        _decoded("Where are you?", 2.4, 3.0),
        _decoded("Someone just hit my car.", 3.4, 4.6),
    ]
    looped = [
        _decoded(t, 5.0 + 0.1 * k, 5.1 + 0.1 * k)
        for k, t in enumerate(["I'm going to get my car.", "Oh, baby."] * 8)
    ]
    assert not any(is_loop(seg.text) for seg, _ in looped)
    # a decoder that stopped by itself read what was said, however often it was said
    assert without_loops([*said, *looped]) == [*said, *looped]
    kept = without_loops([*said, *looped], ran_out=True)
    assert kept[: len(said)] == said
    assert not is_loop(" ".join(seg.text for seg, _ in kept))
    assert len(kept) <= len(said) + 1  # at most the loop's first sentence survives


SAID_AGAIN = " He could wait no longer."


def _said_again(pieces: int, every_s: float = 2.5) -> tuple[WindowClock, list[int]]:
    """A window of ``pieces`` pieces of the recording (each 2.5 s, 5 s apart), the same
    sentence said once in each (token 101 is the sentence, 102 a comma), and its clock."""
    clock = WindowClock(
        Window(tuple((round(5 * k * SAMPLE_RATE), round((5 * k + 2.5) * SAMPLE_RATE)) for k in range(pieces)))
    )
    tokens: list[int] = []
    for k in range(pieces):
        tokens += [TS + round((k * every_s + 0.2) / 0.02), 101, TS + round((k * every_s + 1.4) / 0.02)]
    return clock, tokens


def _text_of(ids: list[int]) -> str:
    return "".join({101: SAID_AGAIN, 102: ","}.get(i, " Oh,") for i in ids)


def test_a_sentence_said_again_in_each_piece_of_a_window_is_no_loop() -> None:
    # a caller's sentence said again and again, 5 s apart: the window packs the repeats,
    # its text compresses like a loop, but each piece holds it once
    clock, tokens = _said_again(8)
    assert is_loop(_text_of([t for t in tokens if t < EOT]))
    assert not loops_in_one_piece(tokens, clock, TS, EOT, _text_of)
    # the same eight times in one piece (12 s of one stretch of speech) is a decoder's loop
    alone = WindowClock(Window(((0, 12 * SAMPLE_RATE),)))
    squeezed_in = [t for k in range(8) for t in (TS + 60 * k, 101, TS + 60 * k + 50)]
    assert loops_in_one_piece(squeezed_in, alone, TS, EOT, _text_of)
    # one segment timed across every piece is left to its words
    across = [TS, *[101] * 8, TS + round(clock.duration / 0.02)]
    assert not loops_in_one_piece(across, clock, TS, EOT, _text_of)


def test_a_segment_said_again_across_pauses_is_judged_on_its_parts() -> None:
    # "He could wait no longer." 8 times as one segment over 8 pieces of its window (the
    # decoder wrote no timestamps between them): left out before, now kept for its words
    clock, _ = _said_again(8)
    segment = _decoded(SAID_AGAIN.strip() * 8, 0.0, clock.duration)
    assert is_loop(segment[0].text)
    assert without_loops([segment]) == []
    assert without_loops([segment], across_pauses=lambda r: True) == [segment]
    # its words, aligned: each sentence on its own speech, 5 s apart, so cut at the pauses
    starts = [5.0 * k + 0.2 for k in range(8)]
    activity = _speech_at([(t, t + 1.4) for t in starts], end=42.0)
    sentence = SAID_AGAIN.split()
    words = [
        Word(round(t + 0.28 * i, 3), round(t + 0.28 * (i + 1), 3), f" {w}", 0.9)
        for t in starts
        for i, w in enumerate(sentence)
    ]
    placed = place_words(Segment(0.2, 36.6, " ".join(SAID_AGAIN.strip() for _ in starts)), words, activity)
    assert [p.text for p in placed] == [SAID_AGAIN.strip()] * 8
    assert [p.start for p in placed] == pytest.approx(starts, abs=0.1)  # on the VAD frames
    # a decoder's loop over one stretch of speech stays a loop in its one part: left out
    oh = [Word(round(11.0 + 0.08 * i, 3), round(11.08 + 0.08 * i, 3), " Oh,", 0.9) for i in range(33)]
    assert place_words(Segment(11.0, 13.7, "Oh, " * 33), oh, _speech_at([(11.0, 13.7)], end=15.0)) == []


def test_text_timed_after_the_windows_audio_is_left_out() -> None:
    # the recording's last window, 8.5 s: its last sentence said at 7.0-8.0 s, then written
    # seven more times in the quiet tail after the audio, the decoder ending by itself
    said, again = 100, 101
    text = {said: " He could wait no longer.", again: " He could wait no longer."}
    tokens = [TS + 0, 102, TS + 300, TS + 350, said, TS + 400]
    for k in range(7):
        tokens += [TS + 425 + 10 * k, again, TS + 430 + 10 * k]
    clock = WindowClock(Window(((0, int(8.5 * SAMPLE_RATE)),)))

    def decode(ids: list[int]) -> str:
        return "".join(text.get(i, " Earlier speech.") for i in ids)

    kept = window_segments([*tokens, EOT], clock, TS, EOT, decode, None)
    assert [(seg.start, seg.end, seg.text) for seg, _ in kept] == [
        (0.0, 6.0, "Earlier speech."),
        (7.0, 8.0, "He could wait no longer."),
    ]
    # without the tail the decoder wrote the same eight times, each alone no loop
    assert len(timestamped_segments([*tokens, EOT], TS, EOT, clock.duration)) == 9


def test_words_aligned_at_the_windows_last_instant_are_after_its_audio() -> None:
    # an 8.544 s window at 0.456 s: the alignment's last position is 9.0 s (8.52 s in it)
    clock = WindowClock(Window(((int(0.456 * SAMPLE_RATE), int(9.0 * SAMPLE_RATE)),)))
    echo = [Word(9.0, 9.0, " He"), Word(9.0, 9.0, " could"), Word(9.0, 9.0, " wait")]
    said = [Word(7.42, 7.52, " He"), Word(7.52, 7.68, " could"), Word(7.65, 7.87, " wait")]
    assert after_audio(echo, clock)
    assert not after_audio(said, clock)
    assert not after_audio([*said[:1], *echo[1:]], clock)  # one word heard: it was said
    assert not after_audio([], clock)  # no words: the timestamp tokens decide


def test_words_squeezed_into_one_instant_were_not_heard() -> None:
    # a decoder's repeat inside its window: every word where the sentence before it ended
    clock = WindowClock(Window(((int(167.4 * SAMPLE_RATE), int(178.5 * SAMPLE_RATE)),)))
    repeat = [Word(178.088, 178.088, " Mr"), Word(178.088, 178.088, "."), Word(178.088, 178.088, " John")]
    repeat += [Word(178.088, 178.088, " Dashwood"), Word(178.088, 178.508, ".")]
    assert squeezed(repeat) and unheard(repeat, clock) and not after_audio(repeat, clock)
    said = [Word(171.2, 171.888, " Mr"), Word(171.888, 172.048, "."), Word(172.048, 172.208, " John")]
    assert not squeezed(said) and not unheard(said, clock)
    # one word, or two said 60 ms apart, may be short: left to Whisper's own tests
    assert not squeezed([Word(170.0, 170.0, " and")])
    assert not squeezed([Word(170.0, 170.06, " I"), Word(170.06, 170.3, " am")])
    assert not squeezed([Word(170.0, 170.0, " and"), Word(170.0, 170.0, ",")])  # one word and its comma


def test_a_run_of_words_squeezed_into_one_instant_inside_a_segment_is_left_out() -> None:
    # clips laid back to back (seed 41): the decoder wrote the recording's last sentence
    # again inside the segment that holds it, aligned at one instant after "hands"
    said = [(" For", 234.64), (" the", 234.88), (" twentieth", 235.06), (" time", 235.6), (" that", 235.88)]
    said += [(" evening", 236.14), (" the", 236.54), (" two", 236.82), (" men", 237.04), (" shook", 237.26)]
    said += [(" hands", 237.48)]
    words = [Word(at, at + 0.2, text) for text, at in said] + [Word(237.9, 237.9, ",")]
    again = [Word(237.9, 237.9, t) for t in (" for", " the", " twentieth", " time", " that", " evening")]
    assert without_squeezed_runs([*words, *again]) == words
    # a run inside (the next segment: seventeen words at 237.90-237.94, then one more)
    tail = [Word(237.94, 237.94, t) for t in (" the", " two", " men")] + [Word(237.94, 237.94, ",")]
    last = Word(238.38, 238.56, " for")
    assert without_squeezed_runs([*again, *tail, last]) == [last]
    # two words 40 ms apart are said ("who had"), and three 60 ms apart may be
    spoken = [Word(8.08, 8.12, " who"), Word(8.12, 8.22, " had"), Word(8.22, 8.48, " vanished")]
    assert without_squeezed_runs(spoken) == spoken
    quick = [Word(1.0, 1.02, " I"), Word(1.02, 1.06, " am"), Word(1.06, 1.3, " here")]
    assert without_squeezed_runs(quick) == quick
    # all of a segment: nothing of it is placed
    activity = _speech_at([(230.0, 239.0)], end=240.0)
    assert place_words(Segment(237.9, 238.0, "for the twentieth"), again[:3], activity) == []


def test_a_window_may_take_no_more_tokens_than_its_speech_can_hold() -> None:
    # the densest windows measured took 6.5-7.9 tokens a second, loops 83
    assert token_budget(29.0) == SAMPLE_LEN  # a full window: Whisper's own limit
    assert token_budget(2.7) == 54  # a short clip: a loop stops four times sooner
    assert token_budget(2.7) > 8 * 2.7
    assert token_budget(0.2) == MIN_TOKEN_BUDGET
    assert token_budget(29.0, most=100) == 100
