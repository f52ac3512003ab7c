"""Twi text arrives byte for byte: from the decoder's tokens through the endpoint's result and
the complete function to ``transcripts/<path>.json``, ``.srt`` and ``.vtt``, under a key
with Twi letters. Nothing on the way normalises, escapes or re-spells it."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

import srt
import tokenizers
from faster_whisper.tokenizer import Tokenizer
from lambda_events import async_notification, notification_event
from lambda_support import BUCKET, CONTEXT, ENDPOINT
from twi_endpoint.result import Timings, build_result, to_json
from twi_endpoint.segmentation import Window
from twi_endpoint.timeline import WindowClock, window_segments
from twi_endpoint.types import SAMPLE_RATE, Transcription
from twi_lambdas import complete, keys, names
from twi_lambdas.ids import inference_id

KEY = "audio/Twi nsɛm/Ɔkɔmfoɔ Anɔkye ɛ́nnɛ.wav"  # ɛ́: ɛ + U+0301, which NFC keeps apart
SENTENCES = ("Dɛn na ɛno bɛkyerɛ?", "Ɔkɔmfoɔ Anɔkye ka sɛ ɛ́nnɛ yɛ da pa.")
OUTPUT = f"s3://{BUCKET}/{names.ASYNC_OUTPUT_PREFIX}twi-text.out"


def decoded_result(model_dir: Path) -> bytes:
    """The endpoint's output for a window whose decoder wrote ``SENTENCES`` (Whisper's own
    tokenizer, timestamp tokens around each), as ``output_fn`` returns it."""
    tok = Tokenizer(
        tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json")), True, "transcribe", "yo"
    )
    tokens: list[int] = []
    for i, sentence in enumerate(SENTENCES):
        ids = tok.encode(" " + sentence)
        assert tok.decode(ids) == " " + sentence  # the tokens spell it exactly
        words, _ = tok.split_to_word_tokens([*ids, tok.eot])
        assert "".join(words) == " " + sentence  # and so do the words aligned from them
        tokens += [tok.timestamp_begin + 150 * i, *ids, tok.timestamp_begin + 150 * i + 140]
    window = Window(((0, 6 * SAMPLE_RATE),))
    segments = [
        seg
        for seg, _ in window_segments(
            [*tokens, tok.eot], WindowClock(window), tok.timestamp_begin, tok.eot, tok.decode, None
        )
    ]
    transcription = Transcription(" ".join(s.text for s in segments), "tw", segments, 1, "request")
    result = build_result(
        transcription,
        Timings(6.0, 0.6, 0.1, 0.5),
        engine="ctranslate2",
        model="m",
        device="cpu",
        dtype="int8",
        batch_size=1,
        task="transcribe",
    )
    return to_json(result)


def test_twi_text_is_byte_exact_to_json_srt_and_vtt(s3: Any, ct2_model_dir: Path) -> None:
    assert all(unicodedata.is_normalized("NFC", x) for x in (KEY, *SENTENCES))
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"RIFF....WAVEfmt " + bytes(2000))
    etag = s3.head_object(Bucket=BUCKET, Key=KEY)["ETag"]
    output = decoded_result(ct2_model_dir)
    for sentence in SENTENCES:
        assert sentence.encode() in output  # UTF-8 as decoded, no \\u escapes
    bucket, key = keys.parse_s3_uri(OUTPUT)
    s3.put_object(Bucket=bucket, Key=key, Body=output, ContentType="application/json")

    message = async_notification("Completed", BUCKET, KEY, inference_id(BUCKET, KEY, etag), OUTPUT, ENDPOINT)
    assert complete.handler(notification_event(message), CONTEXT) == {"batchItemFailures": []}

    path = KEY.removeprefix(names.AUDIO_PREFIX)
    listed = {
        o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=names.TRANSCRIPTS_PREFIX)["Contents"]
    }
    assert listed == {keys.transcript_key(path, suffix) for suffix in (".json", ".srt", ".vtt")}
    assert keys.transcript_key(path) == "transcripts/Twi nsɛm/Ɔkɔmfoɔ Anɔkye ɛ́nnɛ.wav.json"

    def body(suffix: str) -> bytes:
        return bytes(s3.get_object(Bucket=BUCKET, Key=keys.transcript_key(path, suffix))["Body"].read())

    raw = body(".json")
    for sentence in SENTENCES:
        assert sentence.encode() in raw
    document = json.loads(raw)
    assert [s["text"] for s in document["segments"]] == list(SENTENCES)
    assert document["transcript"] == " ".join(SENTENCES)
    assert document["language"] == "tw" and document["source"]["key"] == KEY

    cues = list(srt.parse(body(".srt").decode("utf-8")))
    assert [c.content for c in cues] == list(SENTENCES)
    vtt = body(".vtt").decode("utf-8").split("\n\n")[1:]
    assert [block.split("\n", 1)[1].rstrip("\n") for block in vtt] == list(SENTENCES)
