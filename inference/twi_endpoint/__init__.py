"""Everything the SageMaker endpoint runs, beside the entry module ``inference.py``.

This package ships inside ``model.tar.gz`` as ``code/twi_endpoint/``; the HF inference
toolkit puts ``code/`` on ``sys.path``, so it imports as ``twi_endpoint`` there, in tests,
in the CLI and in the offline local stack alike.
"""
