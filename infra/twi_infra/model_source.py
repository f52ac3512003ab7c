"""Turn the configured model source into an S3 location the endpoint can download.

A local model directory is packaged (``twi_asr.package``) into a deterministic model.tar.gz
under ``cdk.out``, then uploaded as a file asset: a directory asset would be zipped, and
SageMaker only unpacks tar.gz. With a Hugging Face model id the archive holds our code
alone and the container downloads the weights.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Stack
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from twi_asr.package import package
from twi_infra.config import StackSettings

STAGING_DIR = "model-packages"  # below the cloud assembly directory (cdk.out)


@dataclass(frozen=True)
class ModelData:
    url: str  # s3://bucket/key of model.tar.gz
    object_arn: str  # what the SageMaker execution role may read


def s3_object_arn(uri: str, partition: str = "aws") -> str:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return f"arn:{partition}:s3:::{bucket}/{key}"


def resolve_model_data(scope: Construct, settings: StackSettings, staging_root: Path) -> ModelData:
    """An S3 URI as given; a local archive uploaded; a directory (or nothing) packaged, then uploaded."""
    stack = Stack.of(scope)
    if settings.model_source == "s3":
        assert settings.model_data is not None
        return ModelData(settings.model_data, s3_object_arn(settings.model_data, stack.partition))
    if settings.model_source == "local" and str(settings.model_data).endswith(".tar.gz"):
        archive = Path(str(settings.model_data)).resolve()
    else:
        model_dir = Path(settings.model_data).resolve() if settings.model_data else None
        tag = hashlib.sha256(str(model_dir or "code-only").encode()).hexdigest()[:12]
        archive = staging_root / STAGING_DIR / tag / "model.tar.gz"
        engine = (
            "ctranslate2" if model_dir is not None and (model_dir / "model.bin").is_file() else "transformers"
        )
        package(model_dir, archive, engine=engine)
    asset = s3_assets.Asset(scope, "ModelArchive", path=str(archive))
    return ModelData(asset.s3_object_url, asset.bucket.arn_for_objects(asset.s3_object_key))
