"""CloudWatch metrics in Embedded Metric Format: one JSON line on stdout per record.

Lambda ships stdout to CloudWatch Logs, which extracts the metrics: no PutMetricData call,
no extra latency, no extra IAM permission. The same line is a readable log entry locally.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

# metric name -> CloudWatch unit
UNITS: dict[str, str] = {
    "RTF": "None",
    "AudioSeconds": "Seconds",
    "ProcessingSeconds": "Seconds",
    "EndToEndSeconds": "Seconds",
    "QueueSeconds": "Seconds",
    "Transcripts": "Count",
    "Failures": "Count",
    "Submitted": "Count",
    "Rejected": "Count",
}


def emf_document(
    namespace: str,
    dimensions: Mapping[str, str],
    values: Mapping[str, float],
    properties: Mapping[str, Any] | None = None,
    timestamp_ms: int | None = None,
) -> dict[str, Any]:
    """The EMF object for ``values`` (unknown metric names are rejected: a typo would
    silently create a new metric)."""
    unknown = set(values) - set(UNITS)
    if unknown:
        raise ValueError(f"unknown metric(s) {sorted(unknown)}; known: {sorted(UNITS)}")
    doc: dict[str, Any] = dict(properties or {})
    doc.update(dimensions)
    doc.update(values)
    doc["_aws"] = {
        "Timestamp": int(time.time() * 1000) if timestamp_ms is None else timestamp_ms,
        "CloudWatchMetrics": [
            {
                "Namespace": namespace,
                "Dimensions": [sorted(dimensions)],
                "Metrics": [{"Name": name, "Unit": UNITS[name]} for name in values],
            }
        ],
    }
    return doc


def emit(
    namespace: str,
    dimensions: Mapping[str, str],
    values: Mapping[str, float],
    properties: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Print one EMF line (what CloudWatch Logs reads) and return the document."""
    doc = emf_document(namespace, dimensions, values, properties)
    print(json.dumps(doc, ensure_ascii=False, separators=(",", ":")), flush=True)
    return doc
