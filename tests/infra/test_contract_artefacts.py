"""Both artefacts carry the endpoint/Lambda contract (``twi_contract.py``) from its one source file.

model.tar.gz ships ``inference/`` as ``code/``; the Lambda asset is ``infra/lambdas/`` plus the
contract, staged by the stack's local bundling. Each must hold the very same bytes, and the
functions must run from their asset with nothing but the runtime and the Powertools layer.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

from cdk_synth import Synth
from twi_infra.package import package
from twi_infra.paths import CONTRACT_FILE


def test_both_artefacts_hold_the_same_contract(synth: Synth, tmp_path: Path) -> None:
    archive = package(None, tmp_path / "model.tar.gz", wheels=None).archive
    with tarfile.open(archive, "r:gz") as tar:
        member = tar.extractfile(f"code/{CONTRACT_FILE.name}")
        assert member is not None
        in_endpoint = member.read()
    in_lambda = (synth.lambda_asset_dir() / CONTRACT_FILE.name).read_bytes()
    assert in_endpoint == in_lambda == CONTRACT_FILE.read_bytes()


def test_the_functions_need_only_the_runtime_and_the_powertools_layer(synth: Synth) -> None:
    """Run from the synthesized asset, nothing beyond what the Python 3.12 runtime (boto3) and
    the Powertools layer (with its tracer extra) hold may be imported (certifi: botocore's
    optional CA bundle, used when present; _distutils_hack: setuptools' site hook in this venv),
    and the contract comes from the asset itself."""
    asset = synth.lambda_asset_dir()
    script = (
        "import json, sys\n"
        "import twi_lambdas.submit, twi_lambdas.complete, twi_contract\n"
        "allowed = set(sys.stdlib_module_names) | {'boto3', 'botocore', 'jmespath', 'dateutil', 'urllib3',"
        " 's3transfer', 'six', 'twi_lambdas', 'twi_contract', 'certifi', '__main__', '__mp_main__',"
        " '_distutils_hack', 'aws_lambda_powertools', 'aws_xray_sdk', 'wrapt', 'typing_extensions'}\n"
        "loaded = {m.split('.')[0] for m in sys.modules if not m.startswith('__editable__')}\n"
        "print(json.dumps([sorted(loaded - allowed), twi_contract.__file__, twi_lambdas.__file__]))\n"
    )
    command = [sys.executable, "-I", "-B", "-c", f"import sys; sys.path.insert(0, {str(asset)!r})\n{script}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)
    extra, contract, lambdas = json.loads(out.stdout)
    assert extra == [], out.stderr
    assert Path(contract).parent == asset and Path(lambdas).is_relative_to(asset)
