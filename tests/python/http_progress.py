"""Official MCP Python SDK over Streamable HTTP: a tool call with a progress callback.

Calls TOOL with ARGUMENTS (JSON) and a progress callback; checks that at least MIN progress
notifications arrived before the result, that progress never went down, and the result text.

usage: http_progress.py URL [--tool demo__sleep] [--arguments '{"ms":600,"steps":3}']
                            [--min-progress 2] [--expect "slept 600ms"] [--timeout S]
"""

from __future__ import annotations

import argparse
import json

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from mcp_check import check, initialize, run, text_of, wait_for_tool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url", help="the MCP endpoint, e.g. http://127.0.0.1:PORT/mcp")
    parser.add_argument("--tool", default="demo__sleep")
    parser.add_argument("--arguments", default='{"ms": 600, "steps": 3}', help="tool arguments as JSON")
    parser.add_argument("--min-progress", type=int, default=2, help="progress notifications required")
    parser.add_argument("--expect", default="slept 600ms", help="exact result text ('' to skip)")
    parser.add_argument("--timeout", type=float, default=30.0, help="overall deadline in seconds")
    args = parser.parse_args()
    arguments = json.loads(args.arguments)

    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        print(f"progress: {progress}/{total} {message or ''}")
        seen.append((progress, total, message))

    async def session() -> None:
        async with streamable_http_client(args.url) as (read, write):
            async with ClientSession(read, write) as s:
                await initialize(s)
                names = await wait_for_tool(s, args.tool, 10.0)
                check(args.tool in names, f"tool {args.tool!r} not in tools/list: {names}")
                result = await s.call_tool(args.tool, arguments, progress_callback=on_progress)
                got = text_of(result)
                print(f"result: {got!r}")
                check(not result.is_error, f"{args.tool} returned isError: {result.content}")
                if args.expect:
                    check(got == args.expect, f"{args.tool} returned {got!r}, expected {args.expect!r}")
                check(
                    len(seen) >= args.min_progress,
                    f"expected at least {args.min_progress} progress notifications, got {len(seen)}: {seen}",
                )
                values = [p for p, _, _ in seen]
                check(values == sorted(values), f"progress went backwards: {values}")

    run(session, args.timeout)


if __name__ == "__main__":
    main()
