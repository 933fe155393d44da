#!/usr/bin/env python3
"""The alternative a user would write: the exchanges of a smartcheck run sent the way the
tutorials in ../shared/seeds/ send theirs (S4S walkthroughs, FHIRstorm): one module-level
`requests` call after another (`requests.post(url, json=...)`, `requests.get(url,
headers=...)`), each on a connection of its own, reading each answer.

    python3 benches/tutorial_flow.py reports/results.json

It makes no checks at all, so it is a lower bound on what such a script costs. Requests go
out as the report recorded them (secrets masked), to the servers of the report's targets
only. Prints the count and the seconds taken, import of `requests` included, as a user's
script pays it. `scripts/bench` times the whole process.
"""
import json
import sys
import time
from urllib.parse import urlsplit

started = time.monotonic()
import requests  # noqa: E402  (timed: a tutorial script pays for it)


def origin(url):
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def main():
    if len(sys.argv) != 2:
        print("usage: tutorial_flow.py RESULTS_JSON", file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        report = json.load(f)
    servers = {origin(t["fhir_base"]) for t in report["targets"]}
    sent = answered = 0
    for case in report["cases"]:
        for step in case["steps"]:
            exchanges = ([step["exchange"]] if step.get("exchange") else []) + step.get("related", [])
            for exchange in exchanges:
                request = exchange["request"]
                if origin(request["url"]) not in servers:
                    continue
                headers = {
                    name: value
                    for name, value in request.get("headers", [])
                    if name.lower() not in ("content-length", "host")
                }
                sent += 1
                try:
                    response = requests.request(
                        request["method"],
                        request["url"],
                        headers=headers,
                        data=(request.get("body") or "").encode() or None,
                        allow_redirects=False,
                    )
                    response.content
                    answered += 1
                except requests.RequestException:
                    pass
    print(f"{sent} requests, {answered} answered, in {time.monotonic() - started:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
