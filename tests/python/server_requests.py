"""Official MCP Python SDK as a client that answers server requests: sampling and elicitation
callbacks, and a logging callback, through toolgate to @modelcontextprotocol/server-everything.

Calls the server's trigger-sampling-request and trigger-elicitation-request tools; each makes
the server ask this client something in the middle of the call. The tool results must carry
this client's answers (so the request reached this client, and its answer went back to the
server that asked).

usage: server_requests.py URL --transport http|sse [--prefix everything__] [--timeout S]
"""

from __future__ import annotations

import argparse
from typing import Any

from mcp import ClientSession, types
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from mcp_check import check, initialize, run, text_of

SAMPLED = "sampled by the python test client"
NAME = "Ada Lovelace"


async def sampling(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    prompt = "".join(
        m.content.text for m in params.messages if isinstance(m.content, types.TextContent)
    )
    print(f"sampling request: {prompt!r}")
    return types.CreateMessageResult(
        role="assistant",
        content=types.TextContent(type="text", text=f"{SAMPLED}: {prompt}"),
        model="scripted-test-model",
        stop_reason="endTurn",
    )


async def elicitation(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    print(f"elicitation request: {params.message!r}")
    return types.ElicitResult(action="accept", content={"name": NAME, "check": True})


async def exercise(session: ClientSession, prefix: str) -> None:
    await initialize(session)
    names = [t.name for t in (await session.list_tools()).tools]
    for tool in ("trigger-sampling-request", "trigger-elicitation-request"):
        check(f"{prefix}{tool}" in names, f"{prefix}{tool} is not listed: {names}")

    result = await session.call_tool(f"{prefix}trigger-sampling-request", {"prompt": "the sky?"})
    text = text_of(result)
    print(f"sampling tool: {text!r}")
    check(not result.is_error, f"the sampling tool failed: {text}")
    check(SAMPLED in text and "the sky?" in text, f"the tool result lacks this client's answer: {text}")

    result = await session.call_tool(f"{prefix}trigger-elicitation-request", {})
    text = text_of(result)
    print(f"elicitation tool: {text!r}")
    check(not result.is_error, f"the elicitation tool failed: {text}")
    check(NAME in text, f"the tool result lacks this client's answer: {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--transport", choices=["http", "sse"], required=True)
    parser.add_argument("--prefix", default="everything__")
    parser.add_argument("--timeout", type=float, default=40.0)
    args = parser.parse_args()

    async def session() -> None:
        callbacks = {"sampling_callback": sampling, "elicitation_callback": elicitation}
        if args.transport == "http":
            async with streamable_http_client(args.url) as (read, write):
                async with ClientSession(read, write, **callbacks) as s:
                    await exercise(s, args.prefix)
        else:
            async with sse_client(args.url) as (read, write):
                async with ClientSession(read, write, **callbacks) as s:
                    await exercise(s, args.prefix)

    run(session, args.timeout)


if __name__ == "__main__":
    main()
