"""``twi-asr eval``: WER/CER of one or more checkpoints on a manifest, through the endpoint's handler.

* :mod:`~twi_asr.evaluation.manifest`: the ``manifest.tsv`` format (file, reference, ...);
* :mod:`~twi_asr.evaluation.metrics`: WER and CER after :class:`twi_asr.text_normalise.TwiNormaliser`;
* :mod:`~twi_asr.evaluation.runner`: each clip through ``inference/inference.py`` (``LocalModel``),
  and the language-token probe;
* :mod:`~twi_asr.evaluation.report`: the printed tables and the CSV/JSON files.
"""
