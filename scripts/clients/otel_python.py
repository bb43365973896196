"""The OpenTelemetry Python SDK's OTLP/HTTP log exporter (PyPI) pushing
into Sluice's /otlp/v1/logs, read back with Loki's label mapping.

Usage: otel_python.py http://127.0.0.1:3100
"""
import json
import logging
import sys
import time
import urllib.parse
import urllib.request

from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

base = sys.argv[1].rstrip("/")
run = str(time.time_ns())
provider = LoggerProvider(
    resource=Resource.create({"service.name": "otel-python", "k8s.namespace.name": "clients", "run.id": run})
)
provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{base}/otlp/v1/logs")))
log = logging.getLogger("otel-client-test")
log.setLevel(logging.INFO)
log.addHandler(LoggingHandler(level=logging.INFO, logger_provider=provider))
N = 10
for i in range(N):
    log.warning("otel line %d", i, extra={"order.id": f"o{i}"})
provider.force_flush()


def query(q):
    now = time.time_ns()
    params = urllib.parse.urlencode(
        {"query": q, "start": now - 3600 * 10**9, "end": now + 10**9, "limit": 1000, "direction": "forward"}
    )
    req = urllib.request.Request(
        f"{base}/loki/api/v1/query_range?{params}",
        headers={"X-Loki-Response-Encoding-Flags": "categorize-labels"},
    )
    with urllib.request.urlopen(req) as r:
        return json.load(r)


got = []
for _ in range(50):
    v = query(f'{{service_name="otel-python", k8s_namespace_name="clients"}} | run_id="{run}"')
    got = [(s["stream"], e) for s in v["data"]["result"] for e in s["values"]]
    if len(got) >= N:
        break
    time.sleep(0.1)
assert len(got) == N, f"got {len(got)} entries: {got[:2]}"
for i, (stream, e) in enumerate(got):
    # indexed: the resource attributes Loki indexes by default (the SDK
    # adds service.instance.id itself), nothing else
    assert stream["service_name"] == "otel-python", stream
    assert stream["k8s_namespace_name"] == "clients", stream
    assert set(stream) <= {"service_name", "k8s_namespace_name", "service_instance_id"}, stream
    assert "run_id" not in stream, stream
    assert e[1] == f"otel line {i}", e
    md = e[2]["structuredMetadata"]
    assert md["severity_text"] == "WARN" or md["severity_text"] == "WARNING", md
    assert md["order_id"] == f"o{i}", md
    assert md["scope_name"] == "otel-client-test", md
print(f"opentelemetry-exporter-otlp-proto-http: {N} entries pushed and read back")
