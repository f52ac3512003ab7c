"""Subtitles from segments: timestamp formats, wrapping, splitting; parsed back by `srt`."""

from __future__ import annotations

import itertools
import random
from datetime import timedelta

import pytest
import srt
from twi_lambdas.subtitles import (
    MAX_CUE_SECONDS,
    MAX_LINE_CHARS,
    MAX_LINES,
    MIN_READ_SECONDS,
    cues,
    srt_timestamp,
    to_srt,
    to_vtt,
    vtt_timestamp,
)

TWI = (
    "Ɛnnɛ yɛbɛkasa afa Kɔfi ne Ama adwuma ho, na yɛahu sɛnea ɔman no bɛtumi aboa wɔn ma wɔanya nkɔsoɔ kɛseɛ."
)


def test_timestamp_formats() -> None:
    assert srt_timestamp(1.0) == "00:00:01,000"
    assert vtt_timestamp(1.0) == "00:00:01.000"
    assert srt_timestamp(3723.4567) == "01:02:03,457"
    assert vtt_timestamp(0.0004) == "00:00:00.000"
    assert srt_timestamp(59.9996) == "00:01:00,000"  # rounding carries into the minutes


def test_a_long_segment_is_wrapped_and_split_into_timed_cues() -> None:
    result = cues([{"start": 10.0, "end": 20.0, "text": TWI}])
    assert len(result) >= 2
    assert all(len(c.lines) <= MAX_LINES and all(len(x) <= MAX_LINE_CHARS for x in c.lines) for c in result)
    assert " ".join(" ".join(c.lines) for c in result) == TWI  # no word lost or changed
    assert result[0].start == 10.0 and result[-1].end == 20.0
    assert all(a.end == pytest.approx(b.start, abs=0.001) for a, b in itertools.pairwise(result))


def test_srt_parses_back_with_the_srt_library() -> None:
    segments = [
        {"start": 0.0, "end": 2.4, "text": " Me din de Kɔfi."},
        {"start": 2.4, "end": 14.0, "text": TWI},
        {"start": 14.0, "end": 14.0, "text": "Yoo."},  # zero length: still shown
        {"start": 15.0, "end": 16.0, "text": "   "},  # nothing to show
    ]
    text = to_srt(segments)
    subs = list(srt.parse(text))
    assert [s.index for s in subs] == list(range(1, len(subs) + 1))
    assert subs[0].start == timedelta(0) and subs[0].end == timedelta(seconds=2.4)
    assert subs[0].content == "Me din de Kɔfi."
    # zero length, nothing after it: shown long enough to be read
    assert subs[-1].content == "Yoo." and subs[-1].end - subs[-1].start == timedelta(seconds=MIN_READ_SECONDS)
    assert all(s.end > s.start for s in subs)
    assert all(b.start >= a.end for a, b in itertools.pairwise(subs))
    assert srt.compose(subs) == text  # canonical: what the library itself would write


def test_vtt_has_its_header_and_escapes_markup() -> None:
    text = to_vtt([{"start": 1.0, "end": 2.5, "text": "a < b & c --> d"}])
    assert text == "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\na &lt; b &amp; c --&gt; d\n"
    assert to_vtt([]) == "WEBVTT\n\n"
    assert to_srt([]) == ""


def test_bad_segments_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="numeric 'start'"):
        cues([{"start": "soon", "end": 1, "text": "x"}])
    with pytest.raises(ValueError, match="finite"):
        cues([{"start": float("nan"), "end": 1, "text": "x"}])


def test_cues_follow_word_times_and_stop_at_pauses() -> None:
    words = [{"start": 0.5 + 0.4 * i, "end": 0.8 + 0.4 * i, "word": f"w{i}"} for i in range(5)]
    words += [{"start": 5.0 + 0.4 * i, "end": 5.3 + 0.4 * i, "word": f"v{i}"} for i in range(3)]
    first, second = cues([{"start": 0.5, "end": 6.1, "text": "ignored: the words win", "words": words}])
    assert (first.start, first.end, first.lines) == (0.5, 2.4, ("w0 w1 w2 w3 w4",))
    assert (second.start, second.end, second.lines) == (5.0, 6.1, ("v0 v1 v2",))
    # a long run of words without a pause is cut at 7 s
    many = [{"start": 0.5 * i, "end": 0.5 * i + 0.4, "word": "x"} for i in range(30)]
    assert all(
        c.end - c.start <= MAX_CUE_SECONDS for c in cues([{"start": 0, "end": 15, "text": "", "words": many}])
    )


def test_cues_without_words_last_at_most_7_s() -> None:
    out = cues([{"start": 0.0, "end": 10.0, "text": "one two three four five six"}])
    assert len(out) == 2 and all(c.end - c.start <= MAX_CUE_SECONDS for c in out)
    assert (out[0].start, out[-1].end) == (0.0, 10.0)
    assert " ".join(" ".join(c.lines) for c in out) == "one two three four five six"


SONNET = "From fairest creatures we desire increase, that thereby beauty's rose might never die,"


def _timed(text: str, start: float = 2.0, step: float = 0.35) -> list[dict[str, object]]:
    return [
        {"start": start + step * i, "end": start + step * i + 0.3, "word": w}
        for i, w in enumerate(text.split())
    ]


@pytest.mark.parametrize("with_words", [False, True])
def test_a_segment_just_too_long_is_cut_in_two_at_its_clause(with_words: bool) -> None:
    """88 characters, four over a cue's two lines: filled greedily, the last word ("die,")
    stood alone on screen for a fraction of a second; cut at the comma, two cues of a line
    each, the words' own times where they are known."""
    segment: dict[str, object] = {"start": 2.0, "end": 7.0, "text": SONNET}
    if with_words:
        segment["words"] = _timed(SONNET)
    first, second = cues([segment])
    assert first.lines == ("From fairest creatures we desire increase,",)
    assert second.lines == ("that thereby beauty's", "rose might never die,")  # 43: two even lines
    assert all(len(line) <= MAX_LINE_CHARS for c in (first, second) for line in c.lines)
    assert second.end - second.start >= 1.0 and first.end <= second.start
    if with_words:  # the break is where the words put it
        assert (first.end, second.start) == (
            pytest.approx(2.0 + 0.35 * 5 + 0.3),
            pytest.approx(2.0 + 0.35 * 6),
        )


def test_two_lines_are_balanced_and_break_after_punctuation() -> None:
    (cue,) = cues(
        [{"start": 0.0, "end": 5.0, "text": "fuel, making a famine where abundance lies, thy self-thy foe."}]
    )
    # of the breaks that fit, the one nearest the middle, after a clause where that costs
    # little: not "fuel, making a famine where abundance lies," over "thy self-thy foe."
    assert cue.lines == ("fuel, making a famine where", "abundance lies, thy self-thy foe.")


def test_words_keep_the_spacing_of_the_segment_text() -> None:
    """The result's words are written without their spacing ("self", "-thy"): the cue takes
    the segment's own text, not the words joined with spaces."""
    text = "thy self-thy foe, to thy sweet self too cruel."
    words = _timed(text.replace("self-thy", "self -thy"))
    (cue,) = cues([{"start": 2.0, "end": 6.0, "text": text, "words": words}])
    assert " ".join(cue.lines) == text


def test_the_fewest_cues_that_fit_none_left_with_one_word() -> None:
    """A long stretch of text without word times (a transformers-engine segment) is cut into
    as many cues as its characters and seconds need, of about equal length."""
    text = " ".join(["Ɛnnɛ yɛbɛkasa afa Kɔfi ne Ama adwuma ho,"] * 5)  # 200 characters, 3 cues
    out = cues([{"start": 0.0, "end": 20.0, "text": text}])
    assert len(out) == 3
    assert all(len(" ".join(c.lines).split()) >= 5 and c.end - c.start <= MAX_CUE_SECONDS for c in out)
    assert " ".join(" ".join(c.lines) for c in out) == text


def test_text_without_spaces_still_fits_its_cues() -> None:
    """Whisper writes Chinese or Japanese without spaces: one "word" of 67 characters and
    9 s is cut into pieces, so that no cue has over two lines or lasts over 7 s."""
    text = (
        "我们今天要讨论的是关于人工智能在医疗领域的应用以及它对未来社会可能产生的"
        "深远影响和各种挑战我们需要认真思考这些问题并找到合适的解决方案"
    )
    out = cues([{"start": 0.0, "end": 9.0, "text": text}])
    assert len(out) == 2 and "".join("".join(c.lines) for c in out) == text
    assert all(len(c.lines) <= MAX_LINES and c.end - c.start <= MAX_CUE_SECONDS for c in out)


def test_random_segments_keep_every_rule() -> None:
    """2000 random transcripts (1-5 segments of 0-40 words, with and without word times,
    pauses of up to 1.5 s between words, segments up to 12 s, words longer than a line):
    every word shown once and in order, at most two lines of 42 characters, at most 7 s,
    cues in order without overlap."""
    rng = random.Random(0)
    vocab = [*TWI.split(), "self-thy", "nkɔsoɔ?", "supercalifragilisticexpialidocious-and-then-some-more"]
    for _ in range(2000):
        segments: list[dict[str, object]] = []
        t = rng.uniform(0, 5)
        for _ in range(rng.randint(1, 5)):
            said = [rng.choice(vocab) for _ in range(rng.randint(0, 40))]
            words, u = [], t
            for w in said:
                gap, length = rng.choice([0.0, 0.0, 0.1, 0.3, 1.5]), rng.uniform(0.05, 0.8)
                words.append({"start": u + gap, "end": u + gap + length, "word": w})
                u += gap + length
            segment: dict[str, object] = {
                "start": t,
                "end": max(u, t + rng.uniform(0, 12)),
                "text": " ".join(said),
            }
            if rng.random() < 0.5:
                segment["words"] = words
            segments.append(segment)
            t = float(segment["end"]) + rng.uniform(0, 2)  # type: ignore[arg-type]
        out = cues(segments)
        shown = "".join("".join(c.lines) for c in out).replace(" ", "")
        assert shown == "".join(str(s["text"]) for s in segments).replace(" ", "")
        assert all(len(c.lines) <= MAX_LINES and all(len(x) <= MAX_LINE_CHARS for x in c.lines) for c in out)
        assert all(0 < c.end - c.start <= MAX_CUE_SECONDS + 1e-6 for c in out)
        assert all(a.end <= b.start + 1e-9 for a, b in itertools.pairwise(out))


def test_a_short_cue_stays_up_into_the_pause_after_it() -> None:
    """A "Thanks." said in 0.3 s stays up for a second where the pause after it allows, and
    never into the next cue."""
    out = cues(
        [
            {"start": 1.0, "end": 1.3, "text": "Thanks."},  # a pause of 2.7 s after it
            {"start": 4.0, "end": 4.3, "text": "Yes.", "words": _timed("Yes.", 4.0)},
            # the next cue 0.4 s later (without word times: not read together with "Yes.")
            {"start": 4.7, "end": 6.5, "text": "Ask not what your country can do for you."},
        ]
    )
    assert [(c.start, c.end) for c in out] == [(1.0, 2.0), (4.0, 4.7), (4.7, 6.5)]


def test_short_sentences_said_together_are_read_together() -> None:
    """The engine gives a segment per sentence; a cue per segment flashed "And that should
    be all." for 0.3 s before "Thanks." (bench ``sparse20``). A segment too short to be read
    takes the next one into its cue when it follows within a second."""
    out = cues(
        [
            {"start": 64.54, "end": 65.06, "text": "And that should be all."},
            {"start": 65.34, "end": 65.47, "text": "Thanks."},
            {"start": 70.0, "end": 70.4, "text": "No."},  # 4.5 s later: alone
        ]
    )
    assert [(c.start, c.end, c.lines) for c in out] == [
        (64.54, 65.54, ("And that should be all. Thanks.",)),  # shown a second
        (70.0, 71.0, ("No.",)),
    ]
    # with word times, a long sentence after a short one: the joined words cut where they must be
    text = "He hoped there would be stew for dinner, turnips and carrots and bruised potatoes and fat mutton"
    out = cues(
        [
            {"start": 10.0, "end": 10.3, "text": "Yes.", "words": _timed("Yes.", 10.0)},
            {"start": 10.5, "end": 16.5, "text": text, "words": _timed(text, 10.5)},
        ]
    )
    assert len(out) == 2 and out[0].start == 10.0 and " ".join(out[0].lines).startswith("Yes. He hoped")
    assert " ".join(" ".join(c.lines) for c in out) == "Yes. " + text
    assert all(c.end - c.start <= MAX_CUE_SECONDS for c in out)
