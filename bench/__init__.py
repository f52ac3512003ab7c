"""``make bench``: our engines against the baselines and peers on real long-form speech (not installed)."""
