"""Official MCP Python SDK over legacy HTTP+SSE (2024-11-05): `sse_client(url)`.

Initializes, lists tools (the echo tool must be there), calls it and compares the text; with
--progress-tool, also calls that tool with a progress callback and checks that at least
--min-progress notifications arrived before the result, never going down.

usage: sse_list_and_call.py URL [--echo-tool demo__echo] [--message M] [--expect TEXT]
                                [--progress-tool demo__sleep] [--progress-arguments JSON]
                                [--min-progress N] [--progress-expect TEXT] [--timeout S]
e.g.   sse_list_and_call.py http://127.0.0.1:PORT/sse --progress-tool demo__sleep
"""

from __future__ import annotations

import argparse
import json

from mcp import ClientSession
from mcp.client.sse import sse_client

from mcp_check import add_echo_arguments, check, list_and_echo, run, text_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url", help="the SSE URL, e.g. http://127.0.0.1:PORT/sse or …/mcp/")
    add_echo_arguments(parser)
    parser.add_argument("--progress-tool", default=None, help="tool to call with a progress callback")
    parser.add_argument(
        "--progress-arguments", default='{"ms": 600, "steps": 3}', help="its arguments as JSON"
    )
    parser.add_argument("--min-progress", type=int, default=2, help="progress notifications required")
    parser.add_argument(
        "--progress-expect", default="slept 600ms", help="exact result text of the progress tool ('' to skip)"
    )
    args = parser.parse_args()
    progress_arguments = json.loads(args.progress_arguments)

    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        print(f"progress: {progress}/{total} {message or ''}")
        seen.append((progress, total, message))

    session_ids: list[str] = []

    async def session() -> None:
        async with sse_client(args.url, on_session_created=session_ids.append) as (read, write):
            print(f"legacy SSE session: {session_ids}")
            check(len(session_ids) == 1, f"the endpoint event named no session id: {session_ids}")
            async with ClientSession(read, write) as s:
                await list_and_echo(s, args)
                if args.progress_tool is None:
                    return
                result = await s.call_tool(
                    args.progress_tool, progress_arguments, progress_callback=on_progress
                )
                got = text_of(result)
                print(f"{args.progress_tool} result: {got!r}")
                check(not result.is_error, f"{args.progress_tool} returned isError: {result.content}")
                if args.progress_expect:
                    check(
                        got == args.progress_expect,
                        f"{args.progress_tool} returned {got!r}, expected {args.progress_expect!r}",
                    )
                check(
                    len(seen) >= args.min_progress,
                    f"expected at least {args.min_progress} progress notifications before the result, "
                    f"got {len(seen)}: {seen}",
                )
                values = [p for p, _, _ in seen]
                check(values == sorted(values), f"progress went backwards: {values}")

    run(session, args.timeout)


if __name__ == "__main__":
    main()
