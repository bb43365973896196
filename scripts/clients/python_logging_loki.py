"""python-logging-loki (PyPI) pushing JSON into Sluice, read back.

Usage: python_logging_loki.py http://127.0.0.1:3100
"""
import json
import logging
import sys
import time
import urllib.parse
import urllib.request

import logging_loki

base = sys.argv[1].rstrip("/")
run = str(time.time_ns())
handler = logging_loki.LokiHandler(
    url=f"{base}/loki/api/v1/push",
    tags={"app": "python-logging-loki", "run": run},
    version="1",
)
log = logging.getLogger("sluice-client-test")
log.setLevel(logging.INFO)
log.addHandler(handler)
N = 20
for i in range(N):
    (log.error if i % 5 == 0 else log.info)(f"python line {i}", extra={"tags": {"seq_group": str(i % 2)}})


def query(q):
    now = time.time_ns()
    params = urllib.parse.urlencode(
        {"query": q, "start": now - 3600 * 10**9, "end": now + 10**9, "limit": 1000, "direction": "forward"}
    )
    with urllib.request.urlopen(f"{base}/loki/api/v1/query_range?{params}") as r:
        return json.load(r)


got = []
for _ in range(50):
    v = query(f'{{app="python-logging-loki", run="{run}"}}')
    got = [(s["stream"], e[1]) for s in v["data"]["result"] for e in s["values"]]
    if len(got) >= N:
        break
    time.sleep(0.1)
lines = sorted(line for _, line in got)
want = sorted(f"python line {i}" for i in range(N))
assert lines == want, f"got {lines}"
errors = [line for stream, line in got if stream.get("severity") == "error"]
assert len(errors) == 4, f"severity label: {got[:3]}"
print(f"python-logging-loki: {N} entries pushed and read back")
