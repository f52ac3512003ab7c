"""Text the decoder wrote that the audio does not hold: a repetition loop, words the
alignment found no audio for, words Whisper itself would call made up.

Whisper invents text on silence, noise and a language it cannot read, and repeats itself
when it loses its place. These are its own tests (openai-whisper's compression ratio and
word-anomaly score) and the alignment's view of the same thing (words squeezed into one
instant); :mod:`twi_endpoint.timeline` and :mod:`twi_endpoint.coverage` apply them.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from twi_endpoint.sentences import has_words, plain_text
from twi_endpoint.types import TIME_PRECISION, Word

# Whisper's own repetition test (openai-whisper's ``compression_ratio_threshold``): text
# whose zlib ratio is above this is the decoder stuck in a loop, not speech
LOOP_COMPRESSION_RATIO = 2.4
IMPROBABLE_WORD = 0.15  # openai-whisper's word-anomaly test: a word the decoder doubts
SQUEEZED_RUN = 3  # words in a row at one instant, inside a segment: no audio under them


def compression_ratio(text: str) -> float:
    """Whisper's repetition measure: the bytes of ``text`` over the bytes of it compressed."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def is_loop(text: str) -> bool:
    """Whether ``text`` is the decoder repeating itself (:data:`LOOP_COMPRESSION_RATIO`).
    Speech that repeats itself stays far under it: over the 488 segments of 14 bench inputs
    the highest was 1.54 ("and here are some more words, words, words, words, words.")."""
    return compression_ratio(text) > LOOP_COMPRESSION_RATIO


def looks_made_up(aligned: Sequence[Word]) -> bool:
    """Whisper's own test for text it made up (``is_segment_anomaly`` in openai-whisper's
    ``transcribe.py``): among a segment's first 8 words, improbable ones (p < 0.15) and ones
    too short (< 0.133 s) or too long (> 2 s) to have been spoken add up. Applied to speech
    decoded again on its own: the first pass already skipped it, and Whisper fills a
    window of breath or noise with "Thank you for watching." Words without probabilities
    are not judged. Words are judged as the alignment timed them: :func:`timeline.place_words`
    moves them onto the speech but each keeps the score it had (:func:`word_anomaly`);
    judged on the moved times, a whole sentence was dropped ("For a full hour ..." its
    first three words squeezed into 0.1 s).

    A word that repeats the word before it is judged by its probability alone: the
    alignment cannot part the same word said twice in a row (its two tokens attend alike),
    so it may give each but a frame or two, and their length says nothing. In a hall,
    "some more words, words, words, words, and that should be all. Thanks." found again
    came back with three "words," of 30 ms each and was dropped as made up (bench
    ``reverb`` seed 96: 8 words deleted)."""
    spoken = [w for w in aligned if has_words(w.text)][:8]
    scores = [
        _doubt(w) if k and plain_text(w.text) == plain_text(spoken[k - 1].text) else word_anomaly(w)
        for k, w in enumerate(spoken)
    ]
    known = [score for score in scores if score is not None]
    if not known or len(known) < len(scores):
        return False
    score = sum(known)
    return score >= 3 or score + 0.01 >= len(known)


def word_anomaly(word: Word) -> float | None:
    """One word's part of :func:`looks_made_up`'s score: improbable (p < 0.15), too short
    (< 0.133 s) or too long (> 2 s) as the alignment timed it. The score a word got when
    aligned (``word.anomaly``) is kept once :func:`timeline.place_words` moves it, so words can be
    judged again later, apart from the segment they came in (``coverage._outside``). None
    for a word without a probability."""
    if word.anomaly is not None:
        return word.anomaly
    doubt = _doubt(word)
    if doubt is None:
        return None
    duration = word.end - word.start
    return doubt + max(0.0, 0.133 - duration) * 15 + max(0.0, duration - 2.0)


def _doubt(word: Word) -> float | None:
    """The part of :func:`word_anomaly` that is the decoder's own: improbable (p < 0.15);
    None for a word without a probability."""
    return None if word.probability is None else float(word.probability < IMPROBABLE_WORD)


def squeezed(words: Sequence[Word]) -> bool:
    """Whether a segment's words, two or more, all start within two of the alignment's 20 ms
    steps of its first: the alignment found no audio for any of them and squeezed them into
    one instant, as :func:`timeline.after_audio` sees at a window's end, here after the speech of the
    text before them.

    A decoder at the end of a recording can repeat its last sentence with timestamps still
    inside the window: bench ``telephone`` seed 11 (held out), "Mr. John Dashwood had then
    leisure to consider how much there might be prudently in his power to do for them." and
    the same again, all 22 words of the repeat aligned at 178.088 s, where the first one's
    "them" ends (the third copy, timed after the audio, :func:`timeline.after_audio` left out): kept,
    it stood as a 32 ms segment, 22 insertions. Two words said take longer than 40 ms. Text
    left out so whose speech no other segment holds is decoded again on its own."""
    spoken = [w for w in words if has_words(w.text)]
    return len(spoken) >= 2 and _at_one_instant(spoken[0], spoken[-1])


def _at_one_instant(first: Word, then: Word) -> bool:
    """Whether ``then`` starts within two of the alignment's 20 ms steps of ``first``."""
    return then.start - first.start <= 2 * TIME_PRECISION + 1e-6


def without_squeezed_runs(words: Sequence[Word]) -> list[Word]:
    """``words`` less every run of :data:`SQUEEZED_RUN` or more spoken words in a row that
    the alignment started within two of its 20 ms steps of the run's first (and the
    punctuation after them): as :func:`squeezed` finds for a whole segment, it found no
    audio for them. Three words are never said in 40 ms; two can be ("who had": 40 ms
    apart in a clean sentence).

    A decoder can go on repeating a recording's last sentence inside the segment that holds
    it: clips laid back to back, "For the twentieth time that evening the two men shook
    hands," and then the same four times more, timed by its tokens inside the window and
    aligned at one instant after "hands" (in that segment and the next, which ends with
    one more word, so neither is squeezed whole): 25 insertions. The timestamp token that
    closed such a segment closed the repeat, and the words before it may end after it
    (:func:`timeline.place_words` keeps their times). Speech under words left out so is found
    uncovered and decoded again."""
    spoken = [k for k, w in enumerate(words) if has_words(w.text)]
    dropped: set[int] = set()
    i = 0
    while i < len(spoken):
        j = i
        while j + 1 < len(spoken) and _at_one_instant(words[spoken[i]], words[spoken[j + 1]]):
            j += 1
        if j - i + 1 < SQUEEZED_RUN:
            i += 1
            continue
        dropped.update(range(spoken[i], spoken[j + 1] if j + 1 < len(spoken) else len(words)))
        i = j + 1
    return [w for k, w in enumerate(words) if k not in dropped]
