"""Official MCP Python SDK over Streamable HTTP: initialize, list tools, call the echo tool.

usage: http_list_and_call.py URL [--echo-tool demo__echo] [--message M] [--expect TEXT] [--timeout S]
"""

from __future__ import annotations

import argparse

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from mcp_check import add_echo_arguments, list_and_echo, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url", help="the MCP endpoint, e.g. http://127.0.0.1:PORT/mcp")
    add_echo_arguments(parser)
    args = parser.parse_args()

    async def session() -> None:
        async with streamable_http_client(args.url) as (read, write):
            async with ClientSession(read, write) as s:
                await list_and_echo(s, args)

    run(session, args.timeout)


if __name__ == "__main__":
    main()
