"""A manifest: ``manifest.tsv``, tab-separated with a header row, one clip per row.

The columns ``file`` (relative to the manifest's folder, or absolute) and ``reference`` are
required; ``duration_s`` is used when present; other columns (``source``, ``license``, ``notes``)
are ignored. Fields may be quoted the CSV way (``"a ""quoted"" note"``). This is the format of
``../shared/data/<language>/manifest.tsv`` and ``tests/data/manifest.tsv``. A manifest saved
by a spreadsheet reads the same: a byte-order mark, Windows line ends and the column names
in another case or with spaces around them.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

MANIFEST_NAME = "manifest.tsv"
REQUIRED_COLUMNS = ("file", "reference")


class ManifestError(ValueError):
    """The manifest cannot be used (missing, wrong columns, a file not there, an empty reference)."""


@dataclass(frozen=True)
class ManifestClip:
    file: str  # as written in the manifest
    path: Path
    reference: str
    duration_s: float | None = None


def manifest_path(path: str | Path) -> Path:
    """``path`` itself, or ``path/manifest.tsv`` when it is a folder."""
    p = Path(path)
    return p / MANIFEST_NAME if p.is_dir() else p


def read_manifest(
    path: str | Path, check_files: bool = True, skip_unreferenced: bool = False
) -> list[ManifestClip]:
    """The rows of a manifest; ManifestError names the problem and the line.

    ``skip_unreferenced``: a row without a reference is no clip, and a manifest of none is
    no error (a corpus lists noise recordings too, as ../shared's ``long/`` does; the
    benchmark reads only the speech)."""
    source = manifest_path(path)
    try:
        with open(source, encoding="utf-8-sig", newline="") as f:  # -sig: a BOM is no column name
            reader = csv.DictReader(f, delimiter="\t")
            columns = reader.fieldnames = [name.strip().lower() for name in reader.fieldnames or ()]
            missing = [c for c in REQUIRED_COLUMNS if c not in columns]
            if missing:
                raise ManifestError(
                    f"{source}: the header has no {', '.join(missing)} column "
                    f"(expected tab-separated columns: file, duration_s, reference, ...)"
                )
            rows = [(reader.line_num, row) for row in reader]
    except OSError as exc:
        raise ManifestError(f"cannot read the manifest {source}: {exc.strerror}") from None
    clips = []
    for line, row in rows:
        name, reference = (row.get("file") or "").strip(), (row.get("reference") or "").strip()
        if not name:
            continue
        clip_path = Path(name) if Path(name).is_absolute() else source.parent / name
        if check_files and not clip_path.is_file():
            raise ManifestError(f"{source}, line {line}: no audio file at {clip_path}")
        if not reference and skip_unreferenced:
            continue
        if not reference:
            raise ManifestError(f"{source}, line {line}: {name} has no reference")
        clips.append(ManifestClip(name, clip_path, reference, _float(row.get("duration_s"))))
    if not clips and not skip_unreferenced:
        raise ManifestError(f"{source}: no clips")
    return clips


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value and value.strip() else None
    except ValueError:
        return None
