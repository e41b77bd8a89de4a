"""Shared checks for the scripts that drive toolgate with the official MCP Python SDK.

Every check raises CheckFailed with a message that says what was expected and what arrived;
`run` turns that (or a timeout, or any other exception) into a non-zero exit with the reason
on stderr, so the Rust test that ran the script can show it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from mcp import ClientSession
from mcp import types


class CheckFailed(Exception):
    """An assertion about the peer's behaviour did not hold."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def add_echo_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every list-and-call script shares."""
    parser.add_argument("--echo-tool", default="demo__echo", help="tool to call (default: demo__echo)")
    parser.add_argument("--message", default="hello from the python sdk", help="message to echo")
    parser.add_argument(
        "--expect",
        default=None,
        help="exact text the tool must return (default: the message itself)",
    )
    parser.add_argument(
        "--wait-tools",
        type=float,
        default=10.0,
        help="seconds to keep re-listing tools while the echo tool is missing (upstreams starting)",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="overall deadline in seconds")


def text_of(result: types.CallToolResult) -> str:
    """The concatenated text content of a tool result."""
    return "".join(c.text for c in result.content if isinstance(c, types.TextContent))


async def initialize(session: ClientSession) -> types.InitializeResult:
    init = await session.initialize()
    print(
        f"initialized: server={init.server_info.name} {init.server_info.version} "
        f"protocol={init.protocol_version}"
    )
    return init


async def tool_names(session: ClientSession) -> list[str]:
    """Every tool name, following pagination."""
    names: list[str] = []
    cursor: str | None = None
    while True:
        params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
        page = await session.list_tools(params=params)
        names.extend(t.name for t in page.tools)
        cursor = page.next_cursor
        if not cursor:
            return sorted(names)


async def wait_for_tool(session: ClientSession, name: str, wait: float) -> list[str]:
    """Lists tools until `name` shows up or `wait` seconds pass; returns the last listing.

    A gateway may answer before its upstreams are up; a client that lists again sees them.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        names = await tool_names(session)
        if name in names or loop.time() >= deadline:
            return names
        print(f"{name!r} not listed yet, listing again")
        await asyncio.sleep(0.2)


async def list_and_echo(session: ClientSession, args: argparse.Namespace) -> None:
    """initialize, tools/list (the echo tool must be there), tools/call echo, compare the text."""
    await initialize(session)
    names = await wait_for_tool(session, args.echo_tool, args.wait_tools)
    print(f"tools: {names}")
    check(args.echo_tool in names, f"tool {args.echo_tool!r} not in tools/list: {names}")

    result = await session.call_tool(args.echo_tool, {"message": args.message})
    expected = args.message if args.expect is None else args.expect
    got = text_of(result)
    check(not result.is_error, f"{args.echo_tool} returned isError: {result.content}")
    check(got == expected, f"{args.echo_tool} returned {got!r}, expected {expected!r}")
    print(f"call ok: {args.echo_tool} -> {got!r}")


def leaves(e: BaseException) -> list[BaseException]:
    """The innermost exceptions of a (possibly nested) exception group: the actual causes."""
    if isinstance(e, BaseExceptionGroup):
        return [leaf for sub in e.exceptions for leaf in leaves(sub)]
    return [e]


def run(main: Callable[[], Awaitable[Any]], timeout: float) -> None:
    """Runs `main` under a deadline; exits 0 on success, 1 with the reason on stderr otherwise."""

    async def bounded() -> Any:
        return await asyncio.wait_for(main(), timeout)

    try:
        asyncio.run(bounded())
    except CheckFailed as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
    except (asyncio.TimeoutError, TimeoutError):
        traceback.print_exc()
        print(f"FAILED: did not finish within {timeout}s", file=sys.stderr)
        sys.exit(1)
    except BaseException as e:  # noqa: BLE001 - any other failure is a failed check too
        traceback.print_exc()
        causes = "; ".join(f"{type(x).__name__}: {x}" for x in leaves(e))
        print(f"FAILED: {causes}", file=sys.stderr)
        sys.exit(1)
    print("OK")
