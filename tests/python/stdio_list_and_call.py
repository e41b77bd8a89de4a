"""Official MCP Python SDK over stdio: launch a server, initialize, list tools, call the echo tool.

usage: stdio_list_and_call.py [--echo-tool demo__echo] [--expect TEXT] -- COMMAND [ARG...]
e.g.   stdio_list_and_call.py -- target/debug/toolgate --stdio --config gateway.yaml
"""

from __future__ import annotations

import argparse
import os

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from mcp_check import add_echo_arguments, check, list_and_echo, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_echo_arguments(parser)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARG...] to launch")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    check(len(command) > 0, "no server command given (expected: -- COMMAND [ARG...])")

    # The whole environment, not the SDK's default allow-list: the server under test may need
    # RUST_LOG, TOOLGATE_* and friends.
    params = StdioServerParameters(command=command[0], args=command[1:], env=dict(os.environ))

    async def session() -> None:
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as s:
                await list_and_echo(s, args)

    run(session, args.timeout)


if __name__ == "__main__":
    main()
