"""Parses a scrape of minikms's /v1/sys/metrics?format=prometheus with the
Prometheus project's own Python parsers (OpenMetrics, strict, and the
classic text format), and prints what it found as JSON:
{"families": {name: type}, "samples": [[name, labels, value], ...]}.
Any syntax error raises, and the script fails."""

import json
import sys

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families as classic_families

text = open(sys.argv[1], encoding="utf-8").read()
families = {}
samples = []
for family in openmetrics_families(text):
    families[family.name] = family.type
    for s in family.samples:
        samples.append([s.name, s.labels, s.value])
# The classic (0.0.4) parser must read it too: older scrapers use it.
classic = {f.name for f in classic_families(text)}
assert classic, "the classic parser found no metric"
print(json.dumps({"families": families, "samples": samples}))
