"""Sub-commands of ``twi-asr``; each module has ``register(subparsers)`` (see ``twi_asr.cli``)."""
