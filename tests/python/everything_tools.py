"""Calls every tool @modelcontextprotocol/server-everything lists, the way a client would, and
prints what each returned as one JSON object on the last line of stdout: for each tool (names
without --prefix) whether it failed, the content types, the text, and whether it had
structured content. The client answers sampling, elicitation (form and URL) and roots
requests with fixed values, so that runs against the server directly and through toolgate can
be compared tool by tool.

usage: everything_tools.py URL [--prefix everything__] [--timeout S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client

from mcp_check import initialize, run

# Arguments per tool; a listed tool that is not here is called with {}.
ARGUMENTS: dict[str, dict[str, Any]] = {
    "echo": {"message": "hello everything"},
    "get-annotated-message": {"messageType": "success"},
    "get-resource-links": {"count": 2},
    "get-structured-content": {"location": "Chicago"},
    "get-sum": {"a": 20, "b": 22},
    "trigger-long-running-operation": {"duration": 1, "steps": 2},
    "trigger-sampling-request": {"prompt": "sample me"},
    "trigger-url-elicitation": {"url": "https://example.com/approve"},
    "simulate-research-query": {"topic": "gateways"},
    "gzip-file-as-resource": {"name": "x.gz", "data": "data:text/plain;base64,aGVsbG8="},
}


async def sampling(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    return types.CreateMessageResult(
        role="assistant",
        content=types.TextContent(type="text", text="a sampled answer"),
        model="scripted-test-model",
        stop_reason="endTurn",
    )


async def elicitation(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    if isinstance(params, types.ElicitRequestURLParams):
        return types.ElicitResult(action="accept")
    return types.ElicitResult(action="accept", content={"name": "Ada Lovelace", "check": True})


async def roots(context: Any) -> types.ListRootsResult:
    return types.ListRootsResult(roots=[types.Root(uri="file:///work/project", name="project")])


def describe(result: types.CallToolResult) -> dict[str, Any]:
    texts = [c.text for c in result.content if isinstance(c, types.TextContent)]
    return {
        "is_error": bool(result.is_error),
        "content": [c.type for c in result.content],
        "text": "\n".join(texts),
        "structured": result.structured_content is not None,
    }


async def exercise(session: ClientSession, prefix: str) -> dict[str, Any]:
    await initialize(session)
    names = [t.name for t in (await session.list_tools()).tools]
    out: dict[str, Any] = {}
    for name in sorted(names):
        if not name.startswith(prefix):
            continue
        tool = name[len(prefix):]
        try:
            result = await asyncio.wait_for(
                session.call_tool(name, ARGUMENTS.get(tool, {})), timeout=20
            )
            out[tool] = describe(result)
        except Exception as e:  # a JSON-RPC error is an outcome too
            out[tool] = {"error": type(e).__name__}
        print(f"{tool}: {json.dumps(out[tool])[:200]}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--prefix", default="")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()

    async def session() -> None:
        async with streamable_http_client(args.url) as (read, write):
            async with ClientSession(
                read,
                write,
                sampling_callback=sampling,
                elicitation_callback=elicitation,
                list_roots_callback=roots,
            ) as s:
                out = await exercise(s, args.prefix)
        print(json.dumps(out))

    run(session, args.timeout)


if __name__ == "__main__":
    main()
