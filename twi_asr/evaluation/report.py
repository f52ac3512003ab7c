"""What ``twi-asr eval`` prints (fixed-width tables) and writes (CSV and JSON)."""

from __future__ import annotations

import csv
import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from twi_asr.evaluation.metrics import display_width, pad, render_alignment
from twi_asr.evaluation.runner import ClipResult, LanguageProbe, ModelRun, language_label

CLIPS_CSV = "clips.csv"
SUMMARY_CSV = "summary.csv"
EVAL_JSON = "eval.json"
PROBE_JSON = "probe.json"
# How a probe's recommendation is deployed; {model} and {token} are filled in.
PACKAGE_HINT = "make package MODEL={model} LANGUAGE_TOKEN={token}"


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> list[str]:
    """Columns padded to their widest cell (display width), two spaces apart."""
    widths = [max(display_width(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(pad(str(cell), w, r) for cell, w, r in zip(row, widths, right, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def summary_lines(runs: Sequence[ModelRun]) -> list[str]:
    header = ("model", "engine", "device", "language", "clips", "WER", "CER", "RTF", "audio s", "proc s")
    rows = [
        (
            r.name,
            r.engine or "-",
            f"{r.device or '-'} {r.dtype or ''}".strip(),
            r.language_summary,
            f"{len(r.clips)}" + (f" ({r.failures} failed)" if r.failures else ""),
            _num(r.wer),
            _num(r.cer),
            _num(r.rtf),
            f"{r.audio_duration_sec:.1f}",
            f"{r.processing_time_sec:.1f}",
        )
        for r in runs
    ]
    return table(header, rows, (False, False, False, False, True, True, True, True, True, True))


def clip_lines(runs: Sequence[ModelRun], file_width: int = 40) -> list[str]:
    """One row per clip, worst first; several models side by side (sorted by their mean WER)."""
    if len(runs) == 1:
        rows = [
            [
                str(i),
                _short(c.file, file_width),
                _num(c.audio_duration_sec, 2),
                _num(c.wer),
                _num(c.cer),
                _num(c.rtf, 2),
                language_label(c),
                "FAILED" if c.error else "",
            ]
            for i, c in enumerate(runs[0].sorted_clips, 1)
        ]
        header = ["#", "file", "dur s", "WER", "CER", "RTF", "language", ""]
        return table(header, rows, [True, False, True, True, True, True, False, False])
    by_file = [{c.file: c for c in r.clips} for r in runs]

    def mean_error(file: str) -> tuple[float, float, str]:
        cs = [m[file] for m in by_file if file in m]
        return (
            -statistics.fmean(c.wer or 0.0 for c in cs),
            -statistics.fmean(c.cer or 0.0 for c in cs),
            file,
        )

    header = ["#", "file", "dur s"]
    for r in runs:
        header += [f"{r.name} WER", "CER", "RTF"]
    rows = []
    for i, file in enumerate(sorted(by_file[0], key=mean_error), 1):
        row = [str(i), _short(file, file_width), _num(by_file[0][file].audio_duration_sec, 2)]
        for m in by_file:
            c = m.get(file)
            if c is None:
                row += ["-", "-", "-"]
            else:
                row += [_num(c.wer) + ("!" if c.error else ""), _num(c.cer), _num(c.rtf, 2)]
        rows.append(row)
    return table(header, rows, [True, False, True] + [True] * 3 * len(runs))


def worst_lines(run: ModelRun, count: int, width: int = 100) -> list[str]:
    lines: list[str] = []
    for i, c in enumerate(run.sorted_clips[:count], 1):
        lines.append(f"{i}. {c.file}  WER {_num(c.wer)}  CER {_num(c.cer)}  language {language_label(c)}")
        if c.error:
            lines.append(f"   error: {c.error}")
        lines += render_alignment(c.reference_norm, c.hypothesis_norm, width=width, indent="   ")
    return lines


def print_report(
    runs: Sequence[ModelRun], worst: int, normaliser_text: str, source: str, width: int = 100
) -> None:
    clips = len(runs[0].clips) if runs else 0
    print(f"{clips} clips from {source}; {normaliser_text}")
    print()
    print("\n".join(summary_lines(runs)))
    print()
    title = "per clip, worst first" + (" (by the models' mean WER)" if len(runs) > 1 else "")
    print(f"{title}; RTF = processing time / audio duration")
    print("\n".join(clip_lines(runs)))
    if worst > 0:
        for run in runs:
            print()
            print(
                f"worst {min(worst, len(run.clips))} clips of {run.name}, reference and hypothesis "
                "side by side (normalised; S substituted, D deleted, I inserted):"
            )
            print("\n".join(worst_lines(run, worst, width)))


def write_files(runs: Sequence[ModelRun], out: Path, settings: dict[str, Any]) -> list[Path]:
    """``clips.csv`` (every model's clips, each worst first), ``summary.csv``, ``eval.json``."""
    out.mkdir(parents=True, exist_ok=True)
    fields = ["model", "rank", *ClipResult.__dataclass_fields__]
    with open(out / CLIPS_CSV, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for run in runs:
            for rank, clip in enumerate(run.sorted_clips, 1):
                writer.writerow({"model": run.name, "rank": rank, **clip.as_dict()})
    summaries = [r.summary() for r in runs]
    with open(out / SUMMARY_CSV, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(summaries[0]))
        writer.writeheader()
        writer.writerows(summaries)
    document = {
        **settings,
        "models": [
            {**s, "clips": [c.as_dict() for c in r.sorted_clips]}
            for s, r in zip(summaries, runs, strict=True)
        ],
    }
    (out / EVAL_JSON).write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return [out / SUMMARY_CSV, out / CLIPS_CSV, out / EVAL_JSON]


def probe_lines(probe: LanguageProbe) -> list[str]:
    lines = [
        f"language probe of {probe.name} on {len(probe.sample)} clips "
        "(each token declared in twi_language.json, asked for language=tw):"
    ]
    best = probe.recommended
    rows = []
    for c in probe.candidates:
        run = c.run
        note = c.skipped or ("; ".join(sorted({x.error for x in run.clips if x.error})) if run else "")
        rows.append(
            (
                c.token,
                _num(c.cer),
                _num(c.wer),
                _num(run.rtf, 2) if run else "-",
                "<- lowest CER" if best is not None and c is best else "",
                f"skipped: {note}" if c.skipped else note,
            )
        )
    lines += table(("token", "CER", "WER", "RTF", "", ""), rows, (False, True, True, True, False, False))
    if best is None:
        lines.append("no recommendation: no candidate could be tried")
    else:
        lines.append(f"recommended language token: {best.token} (CER {_num(best.cer)})")
        lines.append("  " + PACKAGE_HINT.format(model=probe.model_dir, token=best.token))
    return lines


def write_probe(probes: Sequence[LanguageProbe], out: Path, settings: dict[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / PROBE_JSON
    document = {**settings, "probes": [p.as_dict() for p in probes]}
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1) :]
