"""`make demo` runs `python -m twi_asr.demo`: it must print the transcript and exit 0."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from twi_asr.scoring import english_normalizer, word_error_rate


def test_word_error_rate() -> None:
    """The demo scores with the same WER as the benchmark and the tests."""
    assert english_normalizer()("And so, my fellow Americans!").split() == [
        "and",
        "so",
        "my",
        "fellow",
        "americans",
    ]
    assert word_error_rate("a b c d", "a b c d").wer == 0.0
    assert word_error_rate("a b c d", "a x c").wer == 0.5  # one substitution, one deletion
    assert word_error_rate("a b", "a b c d").wer == 1.0  # two insertions


def test_demo_prints_the_transcript_and_exits_0(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "twi_asr.demo", "--workdir", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    assert "=== s3://twi-asr-local-bucket/transcripts/demo/jfk.mp3.json" in done.stdout
    assert "transcripts/demo/Ɔkɔmfo ɛnnɛ.mp3.json" in done.stdout
    assert "source key: audio/demo/Ɔkɔmfo ɛnnɛ.mp3" in done.stdout
    assert '"rtf":' in done.stdout
    wers = [float(w) for w in re.findall(r"WER (\d+\.\d)%", done.stdout)]
    assert len(wers) == 2 and max(wers) <= 10.0, done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs"]  # state file removed on exit
