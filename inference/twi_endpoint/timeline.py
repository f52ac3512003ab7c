"""Put the decoder's text on the recording's timeline, and check it against the VAD.

Engine-agnostic: both engines decode windows with Whisper's timestamp tokens, and this
module turns what they produced into the result's segments:

1. :class:`WindowClock` maps a time inside a window (whose pieces skip the long silences)
   back to the recording, each word inside one piece;
2. :func:`timestamped_segments` reads ``<|t0|> text <|t1|>`` token runs, and
   :func:`without_loops` leaves out the text of a decoder stuck repeating itself (the tests
   of what a decoder made up are in :mod:`twi_endpoint.hallucination`);
3. :func:`snap_to_speech` moves a segment's edges onto the speech the VAD found: Whisper's
   timestamps land anywhere in the pause before a sentence, the VAD knows where it starts;
4. :func:`place_words` moves the words onto the speech they were said in, and
   :func:`sentences.split_segment` cuts the segment at every pause longer than
   ``MAX_PAUSE_S`` and to at most ``MAX_SEGMENT_S``, so subtitles follow the speech;
5. :mod:`twi_endpoint.coverage` then checks the segments against the VAD: speech no
   segment holds is decoded again on its own, and what is still uncovered is reported;
6. :func:`sentences.at_sentence_ends` finally cuts each segment into its
   sentences.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from twi_endpoint.hallucination import (
    LOOP_COMPRESSION_RATIO,
    compression_ratio,
    is_loop,
    looks_made_up,
    squeezed,
    without_squeezed_runs,
    word_anomaly,
)
from twi_endpoint.segmentation import FRAME_S, VoiceActivity, Window, mask_runs
from twi_endpoint.sentences import has_words, opens_segment, split_segment, words_from
from twi_endpoint.types import SAMPLE_RATE, TIME_PRECISION, Segment, Word

logger = logging.getLogger(__name__)

MAX_WORD_S = 1.5  # a word aligned longer than this is stretched over speech it does not hold
COVER_MARGIN_S = 0.3  # Whisper's timestamps are this close to the speech: tolerated
# A first word aligned more than this before its segment's timestamp is too long: the start
# is taken from the timestamp (openai-whisper's ``add_word_timestamps``, its 0.5 s)
TIMESTAMP_PREFERRED_S = 0.5


class WindowClock:
    """Window time -> recording time for one :class:`Window`.

    A window is pieces of the recording joined end to end: the first piece's audio is the
    window's 0 s, the second piece follows right after the first, and so on.
    """

    def __init__(self, window: Window, activity: VoiceActivity | None = None) -> None:
        self._starts = [s / SAMPLE_RATE for s, _ in window.pieces]
        lengths = [(e - s) / SAMPLE_RATE for s, e in window.pieces]
        self._offsets = list(np.cumsum([0.0, *lengths[:-1]]))  # window time each piece begins at
        self._lengths = lengths
        self._speech = activity.speech_mask if activity is not None else None
        self._sound = activity.sound_mask if activity is not None else None

    def __call__(self, t: float) -> float:
        k = self._piece_at(t)
        local = min(max(t - self._offsets[k], 0.0), self._lengths[k])
        return self._starts[k] + local

    def span(self, start: float, end: float) -> tuple[float, float]:
        """A word's window times -> recording times, kept inside one piece (a word is never
        spoken across a joined pause; an alignment a frame or two off at a joint would
        otherwise throw it across the whole pause).

        A word the alignment runs across a joint goes to the piece that holds its end where
        that part of it holds speech (with a VAD): the alignment starts the first word after
        a pause early, in the silence before it (its first token takes over from the last
        word's), and so had put the word said after the pause at the end of the speech
        before it, seconds (across a long joined silence, minutes) early: "etc. He" with
        "He" 2.6 s before it was said, 10 of the 13 clip starts missed by more than 0.5 s on
        30 bench runs. The last word before a pause ends where the next word's alignment
        starts, in the silence of the joint: that part holds no speech, and the word stays.
        Sound counts as well as the VAD's speech (frames 10 dB above the recording's floor,
        :func:`twi_endpoint.segmentation.loud_frames`): a soft first word Silero does not
        hear, "And" of "And so my fellow Americans" (0.07 there), had stayed with the
        sentence before the pause ("thanks and", bench ``inner_pauses`` seed 8: clip starts
        within 0.5 s 87.5 -> 93.8 %; of 36 runs of seeds 0-3, 5 and 8 one other changed, an
        insertion fewer). Otherwise (no VAD, no speech there) the piece that holds most of
        the word."""
        parts = [
            (k, min(end, offset + length) - max(start, offset))
            for k, (offset, length) in enumerate(zip(self._offsets, self._lengths, strict=True))
        ]
        best = max(parts, key=lambda p: p[1])[0]
        last = max(k for k, overlap in parts if overlap > 0 or k == 0)
        if last != best and self._sound is not None and self._holds_sound(last, start, end):
            best = last
        offset, length = self._offsets[best], self._lengths[best]
        lo = min(max(start, offset), offset + length)
        hi = min(max(end, lo), offset + length)
        return self._starts[best] + lo - offset, self._starts[best] + hi - offset

    def segments_spans(self, spans: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
        """Segments' window times -> recording times, each kept off the pieces where it holds
        no speech of its own.

        Whisper's timestamps in a window of joined pieces are a few tenths of a second off
        (whisper-base under transformers writes whole seconds: ``<|5.00|>`` for a sentence
        that ends 4.6 s into the window), so a segment that ends or starts just across a
        joint spanned, on the recording, the whole pause between the two pieces: "Author of
        the danger trail, Philip steals, etc." at 47.2-93.3 s, 46 s for a 4 s sentence (bench
        ``sparse20``, seed 0, the transformers engine). The part of a segment in a piece is
        left out when the speech (VAD) in it is none, or all within ``COVER_MARGIN_S`` of
        another segment of the window (the end of the sentence before it, which the coverage
        check counts as that one's): leaving it out uncovers no speech. A segment that holds
        speech of its own in two pieces (two sentences in one segment) still spans the pause;
        one with speech in none keeps the piece that holds most of it. Without a VAD, or
        inside one piece, the times map as they are.

        For segments that get no word times (the transformers engine without ``words``);
        where words are aligned, :func:`place_words` places a segment by them, inside the
        decoder's own times. Its limit: a first word said within ``COVER_MARGIN_S`` of the
        sentence before it, then a pause, starts its segment after the pause (on the default
        engine's timestamps, before its words placed them, it moved "talking" of "This is me
        talking | really slow" 3.8 s late on one of 25 bench runs, the only change)."""
        mapped = [(self(a), self._end(b)) for a, b in spans]
        if self._speech is None or len(self._starts) == 1:
            return mapped
        runs = [(k, a, b) for k in range(len(self._starts)) for a, b in self._speech_runs(k)]

        def held_by_another(i: int, lo: float, hi: float) -> bool:
            return any(
                spans[j][0] - COVER_MARGIN_S <= lo and hi <= spans[j][1] + COVER_MARGIN_S
                for j in range(len(spans))
                if j != i
            )

        out = []
        for i, (a, b) in enumerate(spans):
            pieces = self.pieces_under(a, b)
            if len(pieces) < 2:
                out.append(mapped[i])
                continue
            own = [
                k
                for k in pieces
                if any(
                    rk == k
                    and overlap((a, b), (ra, rb)) > 0
                    and not held_by_another(i, max(a, ra), min(b, rb))
                    for rk, ra, rb in runs
                )
            ]
            kept = own or [max(pieces, key=lambda k: self._overlap_piece(k, a, b))]
            first, last = kept[0], kept[-1]
            start = max(a, self._offsets[first])
            end = min(b, self._offsets[last] + self._lengths[last])
            out.append(
                (
                    self._starts[first] + start - self._offsets[first],
                    self._starts[last] + end - self._offsets[last],
                )
            )
        return out

    def rest_of_piece(self, t: float) -> tuple[float, float]:
        """Recording times from window time ``t`` to the end of the piece that holds it: the
        audio a decoder that stopped at ``t`` (:func:`seek_point`) left unwritten, up to the
        pause after it (the pieces after are the coverage check's, by their own speech)."""
        k = self._piece_at(t)
        return self(t), self._starts[k] + self._lengths[k]

    def unwritten(self, tokens: Sequence[int], timestamp_begin: int, eot: int) -> tuple[float, float] | None:
        """What the decoder of this window left unwritten after its seek point
        (:func:`seek_point` on its ``tokens``), to the end of that piece; None where it read
        the window to its end. Both engines ask it of each window they decode."""
        t = seek_point(tokens, timestamp_begin, eot, self.duration)
        return None if t is None else self.rest_of_piece(t)

    def _piece_at(self, t: float) -> int:
        """The piece that window time ``t`` lies in (at a joint, the piece after it)."""
        return max(0, bisect.bisect_right(self._offsets, t) - 1)

    def pieces_under(self, start: float, end: float) -> list[int]:
        """The window's pieces (stretches of the recording with a pause between them) that
        the window times ``start``-``end`` overlap."""
        return [k for k in range(len(self._starts)) if self._overlap_piece(k, start, end) > 0]

    def _end(self, t: float) -> float:
        """Recording time of a window time that ends something: at a joint, the end of the
        piece before it (:meth:`__call__` gives the start of the piece after it)."""
        k = max(0, bisect.bisect_left(self._offsets, t) - 1)
        local = min(max(t - self._offsets[k], 0.0), self._lengths[k])
        return self._starts[k] + local

    def _overlap_piece(self, k: int, start: float, end: float) -> float:
        return overlap((start, end), (self._offsets[k], self._offsets[k] + self._lengths[k]))

    def _speech_runs(self, k: int) -> list[tuple[float, float]]:
        """Piece ``k``'s stretches of speech (VAD frames), in window time."""
        assert self._speech is not None
        lo = int(self._starts[k] / FRAME_S)
        hi = int(np.ceil((self._starts[k] + self._lengths[k]) / FRAME_S))
        shift = self._offsets[k] - self._starts[k]
        return [
            (
                max(self._offsets[k], (lo + s) * FRAME_S + shift),
                min(self._offsets[k] + self._lengths[k], (lo + e) * FRAME_S + shift),
            )
            for s, e in mask_runs(self._speech[lo:hi])
        ]

    def _holds_sound(self, k: int, start: float, end: float) -> bool:
        """Whether the part of ``[start, end)`` (window time) inside piece ``k`` holds speech
        or loud sound (the recording's :attr:`VoiceActivity.sound_mask`; a clock built with one)."""
        assert self._sound is not None
        offset, length = self._offsets[k], self._lengths[k]
        lo = self._starts[k] + max(start, offset) - offset
        hi = self._starts[k] + min(end, offset + length) - offset
        return bool(self._sound[int(lo / FRAME_S) : int(np.ceil(hi / FRAME_S))].any())

    @property
    def duration(self) -> float:
        return self._offsets[-1] + self._lengths[-1]


@dataclass(frozen=True)
class TimedTokens:
    """One segment as decoded: window-local times and its text tokens."""

    start: float
    end: float
    tokens: list[int]
    first: int = 0  # position of its first token among the window's text tokens


def timestamped_segments(
    tokens: Sequence[int], timestamp_begin: int, eot: int, window_s: float
) -> list[TimedTokens]:
    """``<|t0|> text <|t1|><|t1|> text <|t2|>`` -> segments in window time.

    Text with no closing timestamp (the decoder stopped at the token limit) runs to the
    window's end; text before any timestamp starts at 0. When the times restart inside one
    window (transformers' generate does it: ``<|22.96|><|22.96|><|0.00|> text <|4.32|>``),
    later times count on from the last one (:func:`_token_times`).
    """
    out: list[TimedTokens] = []
    start: float | None = None
    text: list[int] = []
    seen = 0  # text tokens before ``text``
    for token, t in zip(tokens, _token_times(tokens, timestamp_begin, eot, window_s), strict=True):
        if t is not None:
            if text:
                begin = start if start is not None else 0.0
                out.append(TimedTokens(begin, max(t, begin), text, seen))
                seen += len(text)
                text = []
            start = t
        elif token < eot:
            text.append(token)
    if text:
        begin = start if start is not None else 0.0
        out.append(TimedTokens(begin, max(window_s, begin), text, seen))
    return out


def _token_times(
    tokens: Sequence[int], timestamp_begin: int, eot: int, window_s: float
) -> list[float | None]:
    """Each token's time in the window: a timestamp's, counted on from the last where the
    times restart with no text since it (transformers' generate), at most ``window_s``;
    ``None`` for text and other tokens."""
    out: list[float | None] = []
    base = last = 0.0
    text = False  # text since the last timestamp
    for token in tokens:
        if token >= timestamp_begin:
            step = (token - timestamp_begin) * TIME_PRECISION
            if base + step < last and not text:  # transformers restarted the clock: count on
                base = last
            t = min(base + step, window_s)
            last = max(last, t)
            out.append(t)
            text = False
        else:
            out.append(None)
            text = text or token < eot
    return out


def seek_point(tokens: Sequence[int], timestamp_begin: int, eot: int, window_s: float) -> float | None:
    """Where openai-whisper's sequential decoding would go on from in this window: the time
    of a segment the decoder opened after its text and never wrote (its text ends
    ``... to do<|23.52|><|23.52|>``, then the end of text), when that is before the window's
    end; else ``None`` (the decoder closed its last segment, ``... to do<|23.52|>``: the
    window is read to its end; or it wrote no text at all).

    Whisper decodes a recording window after window and, at such an ending
    (``single_timestamp_ending`` false), seeks to that time and decodes on from there: the
    decoder saw more to write and stopped. Here windows are decoded side by side, so the
    audio from that time on is decoded again on its own (:func:`twi_endpoint.coverage.
    recover_uncovered_many`), as the rest of its speech would be if it were long enough for
    the coverage check: the last words of a sentence at a piece's end, "... in his power to
    do [for them]" (0.7 s of speech; bench ``slow`` seed 90), were lost in silence."""
    times = _token_times(tokens, timestamp_begin, eot, window_s)
    written = [(token, t) for token, t in zip(tokens, times, strict=True) if t is not None or token < eot]
    if len(written) < 3 or written[-1][1] is None or written[-2][1] is None:
        return None
    if all(t is not None for _, t in written):  # no text: the coverage check's to judge
        return None
    at = written[-1][1]
    return at if at < window_s - TIME_PRECISION else None


def window_segments(
    tokens: Sequence[int],
    clock: WindowClock,
    timestamp_begin: int,
    eot: int,
    decode: Callable[[list[int]], str],
    activity: VoiceActivity | None,
    ran_out: bool = False,
    final: bool = False,
) -> list[tuple[Segment, TimedTokens]]:
    """One window's decoded tokens -> its segments with text, on the recording's timeline
    (``clock``: the window's, which the engine's word times use too) and (with a VAD) moved
    onto the speech; each with the tokens it came from, less any repetition loop
    (:func:`without_loops`; ``ran_out``: the decoder stopped at its token budget, not at its
    end of text). ``final``: no word times will place these segments, so each is also kept
    off the pieces of the window where it holds no speech of its own
    (:meth:`WindowClock.segments_spans`); otherwise the decoder's own times are kept as the
    bounds its words are placed in (:func:`place_words`).

    Text whose timestamp tokens start it after the window's audio is left out
    (:func:`after_audio` says why)."""
    out = []
    for r in timestamped_segments(tokens, timestamp_begin, eot, clock.duration):
        text = decode(r.tokens).strip()
        if text and r.start >= clock.duration:
            logger.info("left out text timed after its window's audio: %r", text)
        elif text:
            seg = Segment(round(clock(r.start), 3), round(clock(r.end), 3), text)
            out.append((snap_to_speech(seg, activity) if activity is not None else seg, r))
    across = None if final else (lambda r: len(clock.pieces_under(r.start, r.end)) > 1)
    kept = without_loops(out, ran_out, across)
    if not final or activity is None:
        return kept
    spans = clock.segments_spans([(r.start, r.end) for _, r in kept])
    return [
        (snap_to_speech(replace(seg, start=round(a, 3), end=round(max(a, b), 3)), activity), r)
        for (seg, r), (a, b) in zip(kept, spans, strict=True)
    ]


def after_audio(words: Sequence[Word], clock: WindowClock) -> bool:
    """Whether a segment's text lies after its window's audio: every aligned word starts at
    the alignment's last position, which is the window's end less up to two of its 20 ms
    steps (the encoder halves the mel frames; the alignment squeezes text it finds no
    audio for there, each word lasting nothing).

    The window's audio is followed by a quiet tail the engine appends (and Whisper's
    padding), and a decoder at the end of a recording can go on writing there: the last
    sentence said, "He could wait no longer.", then the same seven times more, the decoder
    ending by itself (bench ``speech`` seed 8: 43 insertions, the last window of the
    recording; the first repeat timed by its tokens at 8.0-10.0 s of an 8.5 s window, the
    others at its end). The window's text is a loop by Whisper's measure, but one
    :func:`without_loops` must leave, as a refrain said over and over looks the same; what
    tells them apart is that no recording lies under the repeats. Such text is left out
    (:func:`window_segments` by its timestamp tokens, the engines by its words)."""
    last = clock(clock.duration) - 2 * TIME_PRECISION
    return bool(words) and all(w.start >= last for w in words)


def unheard(words: Sequence[Word], clock: WindowClock) -> bool:
    """Whether the alignment found no audio under a segment's text, which the engines then
    leave out: text after its window's audio (:func:`after_audio`) or squeezed into one
    instant after the speech of the text before it (:func:`hallucination.squeezed`)."""
    return after_audio(words, clock) or squeezed(words)


def without_loops(
    segments: list[tuple[Segment, TimedTokens]],
    ran_out: bool = False,
    across_pauses: Callable[[TimedTokens], bool] | None = None,
) -> list[tuple[Segment, TimedTokens]]:
    """A window's segments less the text where the decoder fell into a repetition loop.

    Whisper loops on music, noise and a language it cannot read, and the engines' fallback
    (beam 5) does not always get it out: on Twi clips "1, 2, 3, 4, 5, 5, 5, ..." and "Min
    Min Min ..." (100 words for 2.9 s of speech; the beam ended it by itself), on a noisy
    phone call beam 5 wrote "Oh, oh, oh, ..." 33 times in one segment and greedy decoding
    "I'm going to get my car." and "Oh, baby." again and again, a dozen segments squeezed
    into 2 s. A segment that is a loop by itself (:func:`hallucination.is_loop`; speech that repeats
    itself stays far under it) is left out. A loop of whole sentences is left out only
    when the decoder ran out of tokens (``ran_out``), as it did there: a refrain said three
    times over compresses as well, and a decoder that stops by itself has read it to its
    end. Then, while the window's text as a whole is a loop, the run of segments that
    compresses most goes. The speech of what was left out shows as uncovered: it is
    decoded again on its own, and reported in the result if it loops again, as is the rest
    of the window's speech the loop left unwritten.

    A segment timed across a pause of its window (``across_pauses``: over two or more of
    its pieces, where words will be aligned) is kept here: the same sentence said again
    and again, a second or more apart, compresses like a loop when the decoder writes it
    as one segment, and so was left out, decoded again, left out again and reported (the
    same clip said 9-13 times, ``bench.inputs.build_said_again``: four to eight of them).
    Its words, aligned, cut it at its pauses, and :func:`place_words` leaves out any part
    that is a loop by itself: a decoder's loop, over one stretch of speech."""
    kept = [
        pair
        for pair in segments
        if not is_loop(pair[0].text) or (across_pauses is not None and across_pauses(pair[1]))
    ]
    while ran_out and len(kept) > 1 and is_loop(" ".join(seg.text for seg, _ in kept)):
        texts = [seg.text for seg, _ in kept]
        ratio, first, last = max(
            (compression_ratio(" ".join(texts[i:j])), i, j)
            for i in range(len(texts))
            for j in range(i + 2, len(texts) + 1)
        )
        if ratio <= LOOP_COMPRESSION_RATIO:
            break
        kept = kept[:first] + kept[last:]
    if len(kept) < len(segments):
        still = {id(seg) for seg, _ in kept}
        dropped = [seg for seg, _ in segments if id(seg) not in still]
        logger.info(
            "left out %d segments of a repetition loop (%.2f-%.2f s)",
            len(dropped),
            dropped[0].start,
            dropped[-1].end,
        )
    return kept


def loops_in_one_piece(
    tokens: Sequence[int],
    clock: WindowClock,
    timestamp_begin: int,
    eot: int,
    decode: Callable[[list[int]], str],
) -> bool:
    """Whether a window's decoded text is a loop (:func:`hallucination.is_loop`) inside one of its pieces:
    the text of its timestamped segments that each lie in that piece alone. A segment timed
    across pieces is left to its words (:func:`without_loops`).

    The engines decode a window again with beam 5 when its text is a loop, as Whisper
    does with a higher temperature. But a window packs speech with the pauses cut out, so
    a sentence said again a second or more apart fills it with the same words: greedy
    decoding had it right (log-probability -0.1 to -0.2), and the beam took as long again
    as the window had and more, for the same text (``bench.inputs.build_said_again``)."""
    by_piece: dict[int, list[str]] = {}
    for r in timestamped_segments(tokens, timestamp_begin, eot, clock.duration):
        pieces = clock.pieces_under(r.start, r.end)
        if len(pieces) == 1:
            by_piece.setdefault(pieces[0], []).append(decode(r.tokens))
    return any(is_loop(" ".join(texts)) for texts in by_piece.values())


def place_window(
    segments: Sequence[tuple[Segment, Sequence[Word]]], clock: WindowClock, activity: VoiceActivity
) -> list[Segment]:
    """One window's segments, each with its aligned words, placed on the speech
    (:func:`place_words`), less those the alignment found no audio for (:func:`unheard`).
    Each is told where the words of the segment after it start: the alignment is one path
    through the window, and a last word it puts right before them, after a pause the
    sentence before has no room left in, is said with them (:func:`within_segment`)."""
    heard = [(seg, words) for seg, words in segments if not unheard(words, clock)]
    firsts = [next((w.start for w in words if has_words(w.text)), None) for _, words in heard]
    out: list[Segment] = []
    for k, (seg, words) in enumerate(heard):
        then = next((start for start in firsts[k + 1 :] if start is not None), None)
        out += place_words(seg, words, activity, then)
    return out


def place_words(
    segment: Segment, words: Sequence[Word], activity: VoiceActivity, then: float | None = None
) -> list[Segment]:
    """``segment`` with its aligned ``words``: punctuation joined to its word, words moved
    onto the speech (:func:`within_segment`, ``then``: where the next segment's words start),
    the segment spanning them and cut at its pauses and to at most 10 s
    (:func:`sentences.split_segment`). Unchanged when it has no words; nothing when its words look
    made up and hold no speech (:func:`holds_speech`). Whether the words look made up
    (:func:`hallucination.looks_made_up`) is judged here, on the times the alignment gave them: moved
    onto the speech, the first words of a sentence whose soft onset the VAD heard late are
    squeezed into a few milliseconds at its onset, and would read as too short to be spoken."""
    words = [replace(w, anomaly=word_anomaly(w)) for w in words]
    made_up = looks_made_up(words)  # on every word: a squeezed run is a sign of it too
    heard = without_squeezed_runs(words)
    if words and not heard:
        return []
    if len(heard) < len(words):  # the timestamp that closed the repeat is not the speech's end
        segment = replace(segment, end=max(segment.end, heard[-1].end))
    words = heard
    within = within_segment(attach_punctuation(words), segment, activity, then)
    placed = trim_words_to_speech(within, activity)
    if not placed:
        return [segment]
    if made_up and not holds_speech(placed, activity):
        logger.info("left out text that looks made up, where the VAD heard no speech: %r", segment.text)
        return []
    parts = split_segment(replace(segment, start=placed[0].start, end=placed[-1].end, words=tuple(placed)))
    plain = [part for part in parts if not is_loop(part.text)]
    if len(plain) < len(parts):  # a segment timed across pauses keeps only its parts that are no loop
        logger.info("left out %d parts of a repetition loop: %r", len(parts) - len(plain), segment.text[:80])
        parts = plain
    return [replace(part, made_up=True) for part in parts] if made_up else parts


def holds_speech(words: Sequence[Word], activity: VoiceActivity) -> bool:
    """Whether any of ``words`` lies on a frame of speech the VAD found.

    Words moved onto the speech (:func:`trim_words_to_speech`) stay off it only where no
    speech follows them: text after a recording's last sentence. There Whisper writes what
    it was trained to expect at the end of a video ("Thank you.", 0.2 s on the breath
    after "his belly counseled him", bench ``inner_pauses`` seed 13), and
    :func:`place_words` leaves such text out when it also looks made up
    (:func:`hallucination.looks_made_up`): openai-whisper's ``hallucination_silence_threshold`` skips a
    segment that looks made up amid silence, on the same two counts.

    A word the alignment gave no time (it ends where it starts) holds the frame it stands
    in: "Thanks." at 70.080 s, on speech the VAD heard but at a frame's edge (2190 frames of
    32 ms), held no frame, and a word of no length looks made up, so the decoder's
    "Thanks." was left out (bench ``reverb`` seed 90)."""
    mask = activity.speech_mask
    return any(
        mask[frame_of(w.start) : max(frame_of(w.end, up=True), frame_of(w.start) + 1)].any() for w in words
    )


def within_segment(
    words: Sequence[Word], segment: Segment, activity: VoiceActivity | None = None, then: float | None = None
) -> list[Word]:
    """Words that start no earlier than the time Whisper's timestamp tokens gave their segment,
    and no later than its end.

    The alignment is one monotonic path through the whole window: where it crosses a pause
    it hands the pause to a word next to it, so the first word after a pause often starts
    at the end of the speech *before* the pause ("For" of "For a full hour" aligned to the
    previous sentence's last syllable). The decoder's timestamp puts the segment's start
    after that pause, so such a word moves to it. (A word stretched over the pause *after*
    it is cut by :func:`trim_words_to_speech`.) At the other end, the path can carry a
    sentence's last word over a pause onto the next speech, which may be a sentence the
    decoder skipped: its speech then looks covered and is never decoded again ("thee." of
    a sonnet line ending at 191.5 s aligned at 194.3-197.5 s, on "For a full hour he had
    paced up and down, waiting,", lost unreported; `speech` seed 0 with 20 s windows). A
    word that starts after the segment's end moves back into it. The same path can stretch
    the last word itself over the words the decoder left out after it: "than" of "... still
    more respectable than" aligned 407.33-408.91 s on "than he was", the segment's timestamp
    ending at 407.73 s (bench ``sparse20`` seed 18, the window's last sentence); "he was"
    looked covered. A last word that runs past the segment's end by more than the
    timestamps' tolerated error (``COVER_MARGIN_S``) ends there; what it ran over is then
    uncovered and decoded again (there: "he was.", one window more). On 70 runs (seeds 0-2
    and 12-18, seven inputs each) 20 last words ran 0.32-1.18 s past; the text changed on
    that one run (errors 13 -> 11); on eleven more a segment ends 0.10-0.58 s earlier, at
    its timestamp, with the same words. Applied only when most of the segment's words
    already start inside its span: then the two sources agree and the start can be
    trusted; otherwise the words are kept as aligned.

    Only across a pause: a first word whose sound (``activity.sound_mask``: speech or loud)
    runs on without a break up to the segment's timestamp keeps its aligned start, and the
    segment starts with it. Whisper-base's timestamp tokens are coarse (whole seconds are
    common), and moved onto them the word left its own onset uncovered: decoded again, it
    came back as an "Um" or a word written twice, and a "Lord" opened its segment 0.6 s late
    (bench ``inner_pauses`` seed 8). On 36 runs (seeds 0-3, 5 and 8, 2026-12-03) errors
    885 -> 875, all insertions, worse on none; clip starts within 0.5 s on ``inner_pauses``
    seed 8 93.8 -> 100 %, the other runs' unchanged. But a first word aligned more than
    ``TIMESTAMP_PREFERRED_S`` before the timestamp is too long to be one word (a filler
    Whisper does not write, or the end of the sentence before): it starts at the timestamp,
    or its median word before its end if that is earlier (openai-whisper's rule). Against
    the Montreal Forced Aligner's alignment of its clip, sentences after a pause inside it
    started 0.52 s from their first word (median, 109 starts, seeds 1, 8, 12, 17, 20), now
    0.27 s; JFK's "Ask what you can do" no longer starts on the "you" before it; no clip
    start moved on 45 runs; five fillers now written ("Aham", "of"), their time uncovered.

    Not back into it: last words aligned after the segment's end, on speech, up to where
    the next segment's words start (``then``, within two of the alignment's 20 ms steps,
    each word at most ``MAX_WORD_S``) keep their times when the speech the VAD hears after
    the word before them, up to the pause, is shorter than the segment's median word (the
    unit openai-whisper measures words by): there is no room for a word there, the path
    went on from them into the next sentence, and the decoder closed its segment after them
    too late. JFK's "And so my fellow Americans" after a pause came back as "... might
    never die and" and "So my fellow Americans", "and" aligned right before "So" (held-out
    ``quiet`` seed 30 and ``reverb`` seed 32: 0.13 s of speech left after "die", median
    words 0.46 and 0.42 s; ``speech`` seed 32 and ``telephone`` seeds 31-32: 0.19-0.32 s,
    the end of a word aligned short or Silero's tail on a phone line's noise, medians
    0.38-0.52 s), and moved back it stood 1.5-10 s before it was said. Where a word's room
    is left, the word was said there and the path carried it over the pause: a sonnet
    line's "thee." aligned in the pause before "Had he married" (bench ``speech`` seed 19:
    0.64 s of the line's speech left after "with", median 0.28 s), the MFA clip's drawn-out
    "and" after "some words" (``slow`` seed 8 and the radio show of seed 52: 1.02 and
    0.61 s left, medians 0.51 and 0.53 s; said before its pause, as the clip alone shows).
    A word carried over a sentence the decoder skipped, as above, does not run into the
    next segment's words: that sentence lies between them.
    """
    inside = sum(segment.start <= w.start < segment.end for w in words)
    if 2 * inside < len(words):
        return list(words)
    if activity is not None and words and words[0].start < segment.start:
        lo, hi = frame_of(words[0].start), frame_of(segment.start, up=True)
        if hi > lo and bool(activity.sound_mask[lo:hi].all()):
            start = words[0].start
            if segment.start - start > TIMESTAMP_PREFERRED_S:  # too long: the timestamp, mostly
                start = max(start, min(words[0].end - _median_word_s(words), segment.start))
            segment = replace(segment, start=start)
    said_next = len(words)  # from here on, words said at the next segment's start
    while said_next > 1 and words[said_next - 1].start >= segment.end:
        said_next -= 1
    if not (
        then is not None
        and activity is not None
        and said_next < len(words)
        and abs(then - words[-1].end) <= 2 * TIME_PRECISION + 1e-6
        and all(w.end - w.start <= MAX_WORD_S for w in words[said_next:])
        and holds_speech(words[said_next:], activity)
        and _speech_left_after(words[said_next - 1], activity) < _median_word_s(words)
    ):
        said_next = len(words)
    out: list[Word] = []
    for k, w in enumerate(words):
        if k >= said_next:
            out.append(w)
            continue
        if w.start >= segment.end and out:  # after the end the timestamp tokens gave
            begin = max(segment.start, min(out[-1].end, segment.end - TIME_PRECISION))
            out.append(replace(w, start=round(begin, 3), end=round(segment.end, 3)))
            continue
        if w.start >= segment.start:
            out.append(w)
            continue
        end = w.end
        if end <= segment.start:  # squeezed to nothing: it runs to the next word
            end = words[k + 1].start if k + 1 < len(words) else segment.end
        out.append(replace(w, start=segment.start, end=round(max(end, segment.start), 3)))
    stretched = said_next == len(words) and out and out[-1].end > segment.end + COVER_MARGIN_S
    if stretched:  # over what was not written
        out[-1] = replace(out[-1], end=round(max(out[-1].start, segment.end), 3))
    return out


def _speech_left_after(word: Word, activity: VoiceActivity) -> float:
    """Seconds of speech the VAD hears from ``word``'s end without a break."""
    mask = activity.speech_mask[frame_of(word.end) :]
    breaks = np.flatnonzero(~mask)
    return float(breaks[0] if breaks.size else mask.size) * FRAME_S


def snap_to_speech(segment: Segment, activity: VoiceActivity) -> Segment:
    """``segment`` with its start moved forward to the first speech frame inside it and its
    end back to the last one; unchanged when the VAD found no speech inside it.

    Word times, when present, are clipped the same way, so the first word starts with the
    segment.
    """
    mask = activity.speech_mask
    first, last = frame_of(segment.start), frame_of(segment.end, up=True)
    inside = np.flatnonzero(mask[first:last])
    if inside.size == 0:
        return segment
    start = max(segment.start, (first + int(inside[0])) * FRAME_S)
    end = min(segment.end, (first + int(inside[-1]) + 1) * FRAME_S)
    if end <= start:
        return segment
    words = tuple(
        replace(
            w, start=min(max(w.start, start), end), end=max(min(w.end, end), min(max(w.start, start), end))
        )
        for w in segment.words
    )
    return replace(segment, start=round(start, 3), end=round(end, 3), words=words)


def attach_punctuation(words: Sequence[Word]) -> list[Word]:
    """Punctuation the tokenizer splits off (``" Two" "."``) joins the word before it (or,
    first in a segment, the word after it): it is not spoken, so it gets no time of its own."""
    out: list[Word] = []
    pending = ""
    for w in words:
        if not has_words(w.text):
            if out:
                out[-1] = replace(out[-1], text=out[-1].text + w.text)
            else:
                pending += w.text
            continue
        if pending:
            w = replace(w, text=pending + w.text)
            pending = ""
        out.append(w)
    if pending and out:
        out[-1] = replace(out[-1], text=out[-1].text + pending)
    return out


def trim_words_to_speech(words: Sequence[Word], activity: VoiceActivity) -> list[Word]:
    """Each word moved onto the speech: it starts at the first speech frame inside it and
    ends no later than the speech region it starts in.

    The alignment stretches the last word before a pause over the pause (the attention has
    nowhere else to go); a word is never spoken across a pause, so trimmed, the pause shows
    as a gap between words again; and no word lasts over ``MAX_WORD_S``, so a sentence the
    decoder skipped is not hidden under the word before it. A word placed entirely in a
    pause (the first word after a long one often is) moves to the next speech onset; with
    no speech after it, it stays.

    A segment's first word that starts where the VAD already hears speech (no onset under
    it: other people talking in the pause, a filler run on into the sentence, sound from
    the recording's first instant) keeps its end and at most twice its segment's median
    word before it (that median at most 0.7 s): the alignment hands what comes before a
    sentence to its first word, and with no pause the VAD cannot take it back (openai-
    whisper's rule for the first word after a pause, ``add_word_timestamps``). On the
    bench's ``babble`` input (talkers 15 dB under the speech, seeds 0-2) a first word had
    taken up to 3.3 s of their talk: clip starts within 0.5 s 71 -> 75, 82 -> 95 and 78 ->
    87 %; with the talkers 10 dB under, 17 -> 62 % (``speech`` seed 0). On 56 clean runs
    (seeds 0-2, 12 and 17-20, all seven inputs) the text and every clip start are unchanged;
    sentences inside the MFA clip, after a filler, start up to 0.86 s later, where their
    sound rises.

    Last, a segment's first word starts where it is first heard inside its time
    (:func:`start_where_heard`): where a talker's burst opened the speech region, the
    region's onset is not the word's (``babble`` seeds 0-2: 75 -> 92, 95 -> 100, 87 -> 91 %).
    So does each word after a pause longer than ``MAX_PAUSE_S``: cut there, it opens a
    segment of its own (:func:`sentences.split_segment`). A decoder segment can hold two sentences,
    and the alignment had put 1.5 s of a crowd's talk into the second one's first word
    ("Author" at 124.35 s, the voice at 126.16 s: ``babble`` seed 96).
    """
    mask = activity.speech_mask
    out = []
    longest_first = round(_longest_first_word_s(words) / FRAME_S)
    for k, w in enumerate(words):
        first, last = frame_of(w.start), frame_of(w.end, up=True)
        inside = np.flatnonzero(mask[first:last])
        if inside.size == 0:
            later = np.flatnonzero(mask[last:])
            if later.size == 0:
                out.append(w)
                continue
            width = max(1, last - first)
            first = last + int(later[0])
            last = first + width
            inside = np.flatnonzero(mask[first:last])
        onset = first + int(inside[0])
        # a first word with no onset under it: the alignment may have stretched it back
        # over the sound before it, so its end is what is known
        stretched_back = k == 0 and onset == first and (first == 0 or bool(mask[first - 1]))
        region_end = onset
        longest = last if stretched_back else onset + round(MAX_WORD_S / FRAME_S)
        while region_end < min(last, longest) and mask[region_end]:
            region_end += 1
        if stretched_back:
            onset = max(onset, region_end - longest_first)
        start = round(onset * FRAME_S, 3)
        out.append(replace(w, start=start, end=round(max(start, region_end * FRAME_S), 3)))
    placed = start_where_heard(out, activity)
    for k in range(1, len(placed)):
        if opens_segment(placed[k - 1], placed[k]):
            placed[k:] = start_where_heard(placed[k:], activity)
    return placed


def start_where_heard(words: list[Word], activity: VoiceActivity) -> list[Word]:
    """``words`` (one segment's, on the speech) with the first starting where it is first
    heard (:meth:`VoiceActivity.voice_onset`) inside the time it was aligned to.

    A first word its time does not hold goes to the word after it first: where nothing in
    it rises :data:`~twi_endpoint.segmentation.LOUD_DB` over the floor around it, and a
    gap the alignment left separates it from a second word that does rise, it ends where
    that word starts and lasts the segment's median word at most (:func:`_median_word_s`).
    In a crowd the alignment had put a sentence's whole first word, 1.5 s of it, on the
    talk before the sentence ("It" 0.6 s and more before "was"): the bench's ``babble``
    (seeds 0, 2, 8, 17, 18) clip starts within 0.5 s 91.7 -> 100, 91.3 -> 95.7, 90.9 ->
    100, 95.5 -> 100, 95.7 -> 100 %. The time it leaves is marked on the word
    (:attr:`Word.decoded_from`) and stays held for the coverage check
    (:func:`twi_endpoint.coverage.held_span`), as it was before the move: the decoder read
    it and wrote nothing of it, and decoded again on its own, the talkers there came back
    as sentences no one said ("What is it that I'm looking at now now?"; errors 25 -> 34
    on seed 0, 25 -> 21 held). On 72 clean runs of the same nine seeds the text and every
    clip start are unchanged. So is the time a first word's start is moved off to where it
    is heard: heard against its voice's level (:meth:`VoiceActivity.voice_onset`) and not
    held, first words left more of the talk to be decoded again (``babble`` seed 0: errors
    22 -> 34, "Thank you very much. the world. Thank you.").
    """
    if not words:
        return words
    first = words[0]
    if len(words) > 1 and words[1].start - first.end >= FRAME_S:
        second = words[1]
        unheard = activity.rises_over_floor(frame_of(first.start), frame_of(first.end, up=True)) is False
        if unheard and activity.rises_over_floor(frame_of(second.start), frame_of(second.end, up=True)):
            start = max(first.start, second.start - _median_word_s(words))
            first = replace(first, start=round(start, 3), end=second.start, decoded_from=first.start)
            words = [first, *words[1:]]
    onset = _voice_onset(activity, frame_of(first.start), first.end, words)
    if onset is None:
        return words
    start = max(first.start, min(round(onset * FRAME_S, 3), first.end))
    if start > first.start and first.decoded_from is None:
        first = replace(first, decoded_from=first.start)
    # the words after it start no earlier: "was" aligned 0.06 s before "He" was heard
    # (the transformers engine, bench ``babble`` seed 0)
    return [replace(first, start=start), *words_from(words[1:], start)]


def _voice_onset(activity: VoiceActivity, first: int, end_s: float, words: Sequence[Word]) -> int | None:
    """Where the voice of a segment's first word is first heard in frames from ``first`` to
    its end ``end_s`` (:meth:`VoiceActivity.voice_onset`), the voice's level that of the
    segment's first two ``words``."""
    until = frame_of(words[1].end, up=True) if len(words) > 1 else None
    return activity.voice_onset(first, frame_of(end_s, up=True), until)


def _longest_first_word_s(words: Sequence[Word]) -> float:
    """How long a first word with no onset under it may last: twice the median word."""
    return 2 * _median_word_s(words) if words else MAX_WORD_S


def _median_word_s(words: Sequence[Word]) -> float:
    """The median of ``words``' durations, at most 0.7 s (openai-whisper's cap)."""
    return min(0.7, float(np.median([w.end - w.start for w in words])))


def start_at_onsets(segments: Sequence[Segment], activity: VoiceActivity) -> list[Segment]:
    """``segments`` (in order), each that is the first text of its speech region starting
    where the region does, its first word with it, when that word then lasts at most
    ``MAX_WORD_S``.

    Whisper's timestamp for the first words after a pause often comes late, and so does the
    alignment of a soft first word: a sonnet's "One," was timed 0.42 s into the speech the
    VAD found for it (tests/data, ``test_every_clip_starts_with_a_segment``), and on the bench
    inputs of seeds 0-4 the median distance of a clip's start to its segment's was 0.06-0.42 s.
    Speech of a region before its first segment can only be that segment's first word: no
    other text stands there (or a word Whisper skipped: this runs after the recovery, and a
    stretch this short, under 1.5 s, is one ``metadata.uncovered_speech`` could only list
    from 1 s). Moved (measured offline on those 25 results): the medians
    0.04-0.42 s (16 of 25 lower, none higher but one by 0.01 s), no clip further from its
    segment.

    No further back than where the first word is first heard from the onset on
    (:meth:`VoiceActivity.voice_onset`): in a crowd a talker's burst opens the region, and a
    sentence 0.9 s after it started there (``babble`` seed 0's first clip)."""
    regions = activity.regions
    onsets = [start for start, _ in regions]
    out: list[Segment] = []
    for seg in segments:
        k = bisect.bisect_right(onsets, frame_of(seg.start)) - 1
        if k >= 0 and frame_of(seg.start) < regions[k][1]:
            first_end = seg.words[0].end if seg.words else seg.start
            heard = _voice_onset(activity, regions[k][0], first_end, seg.words)
            onset = round((regions[k][0] if heard is None else heard) * FRAME_S, 3)
            if onset < seg.start and (not out or out[-1].end <= onset) and first_end - onset <= MAX_WORD_S:
                words = (replace(seg.words[0], start=onset), *seg.words[1:]) if seg.words else ()
                seg = replace(seg, start=onset, words=words)
        out.append(seg)
    return out


def overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return min(a[1], b[1]) - max(a[0], b[0])


def frame_of(seconds: float, up: bool = False) -> int:
    x = seconds / FRAME_S
    return max(0, int(np.ceil(x - 1e-9)) if up else int(np.floor(x + 1e-9)))
