"""Official MCP Python SDK over Streamable HTTP through a load balancer in front of several
gateway replicas: one session, N sequential `demo__whoami` calls, each bounded in time.

Prints `call I ANSWER` after each call (so the test can act mid-run) and, at the end, one JSON
line: {"ok": n, "failed": n, "answers": {name: count}, "errors": [...]}. Exits 0 when every
call was answered or failed with an error (never hung); the test judges the counts.

usage: replicas_one_session.py URL [--calls N] [--pause-ms MS]
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


async def main(url: str, calls: int, pause: float) -> None:
    ok = 0
    failed = 0
    errors: list[str] = []
    answers: Counter[str] = Counter()
    async with streamable_http_client(url) as (read, write):
        async with ClientSession(read, write) as s:
            await s.initialize()
            for i in range(1, calls + 1):
                answer = "-"
                try:
                    r = await s.call_tool(
                        "demo__whoami", {}, read_timeout_seconds=5.0
                    )
                    text = r.content[0].text if r.content else ""
                    if r.is_error:
                        failed += 1
                        errors.append(f"call {i}: tool error {text}")
                    else:
                        ok += 1
                        answer = text
                        answers[text] += 1
                except Exception as e:  # noqa: BLE001 - every failure is counted and shown
                    failed += 1
                    errors.append(f"call {i}: {e!r}")
                print(f"call {i} {answer}", flush=True)
                await asyncio.sleep(pause)
    print(json.dumps({"ok": ok, "failed": failed, "answers": answers, "errors": errors[:10]}), flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("url")
    p.add_argument("--calls", type=int, default=200)
    p.add_argument("--pause-ms", type=int, default=10)
    a = p.parse_args()
    asyncio.run(asyncio.wait_for(main(a.url, a.calls, a.pause_ms / 1000), timeout=120))
