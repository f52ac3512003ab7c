"""Turn the configured model source into an S3 location the endpoint can download.

A local model directory is packaged (``twi_infra.package``) into a deterministic model.tar.gz,
then uploaded as a file asset: a directory asset would be zipped, and SageMaker only unpacks
tar.gz. With a Hugging Face model id the archive holds our code alone and the container
downloads the weights. The archive is cached by a fingerprint of its inputs (names, sizes,
modification times), so synthesizing again with a multi-gigabyte model does not gzip it again.

CDK names the uploaded object ``<hash>.gz`` (it keeps only the last suffix); SageMaker reads
the content, not the name (the same holds for the SageMaker L2 alpha module's assets).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Stack
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from twi_infra.config import StackSettings
from twi_infra.package import model_format, package
from twi_infra.paths import ENDPOINT_CODE_DIR
from twi_infra.wheels import WheelTarget


@dataclass(frozen=True)
class ModelData:
    url: str  # s3://bucket/key of model.tar.gz
    object_arn: str  # what the SageMaker execution role may read


def fingerprint(folders: Iterable[Path]) -> str:
    """Changes when any file below ``folders`` is added, removed, resized or touched."""
    digest = hashlib.sha256()
    for folder in folders:
        digest.update(str(folder).encode())
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            stat = path.stat()
            digest.update(f"{path.relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def packaged_archive(model_dir: Path | None, cache_dir: Path, code_dir: Path = ENDPOINT_CODE_DIR) -> Path:
    """model.tar.gz for ``model_dir`` (None: code only) in its own format, built once per fingerprint."""
    inputs = [code_dir] if model_dir is None else [model_dir, code_dir]
    archive = cache_dir / fingerprint(inputs) / "model.tar.gz"
    if not archive.is_file():
        engine = None if model_dir is None else model_format(model_dir)
        # Weights in the archive: the wheels too, so the endpoint can start isolated. A Hub
        # model is downloaded at start anyway: its packages come from the index as well.
        package(
            model_dir,
            archive,
            engine=engine,
            code_dir=code_dir,
            wheels=None if model_dir is None else WheelTarget(),
        )
    return archive


def resolve_model_data(scope: Construct, settings: StackSettings, cache_dir: Path) -> ModelData:
    """An S3 URI as given; a local archive uploaded; a directory (or nothing) packaged, then uploaded."""
    stack = Stack.of(scope)
    if settings.model_source == "s3":
        assert settings.model_data is not None
        bucket, _, key = settings.model_data.removeprefix("s3://").partition("/")
        return ModelData(settings.model_data, f"arn:{stack.partition}:s3:::{bucket}/{key}")
    if settings.model_data is not None and settings.model_data.endswith(".tar.gz"):
        archive = Path(settings.model_data).resolve()
    else:
        model_dir = Path(settings.model_data).resolve() if settings.model_data else None
        archive = packaged_archive(model_dir, cache_dir)
    asset = s3_assets.Asset(scope, "ModelArchive", path=str(archive))
    return ModelData(asset.s3_object_url, asset.bucket.arn_for_objects(asset.s3_object_key))
