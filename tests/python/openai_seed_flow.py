"""The seed flow with the official `mcp` and `openai` packages, against a running gateway.

1. list the gateway's tools over MCP (Streamable HTTP at BASE/mcp);
2. convert them to OpenAI function tools;
3. ask the model through the gateway's chat endpoint (BASE/v1) with those tools;
4. run the model's tool calls over MCP and send the results back;
5. print the final answer.

The model behind the gateway is the tests' scripted OpenAI-compatible server (no real LLM here).

usage: openai_seed_flow.py BASE --model NAME --text TEXT [--timeout S]
"""

from __future__ import annotations

import argparse
import json

import openai
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from mcp_check import check, initialize, run, text_of


async def seed_flow(args: argparse.Namespace) -> None:
    base = args.base.rstrip("/")
    async with streamable_http_client(f"{base}/mcp") as (read, write):
        async with ClientSession(read, write) as session:
            await initialize(session)
            listed = await session.list_tools()
            tools = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description or "",
                        "parameters": t.input_schema,
                    },
                }
                for t in listed.tools
            ]
            print(f"tools: {[t['function']['name'] for t in tools]}")
            check(any(t["function"]["name"] == "demo__echo" for t in tools), "no demo__echo listed")

            client = openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="sk-not-checked", max_retries=0, timeout=30)
            messages: list[dict] = [{"role": "user", "content": f"Please echo '{args.text}'"}]
            reply = await client.chat.completions.create(model=args.model, messages=messages, tools=tools)
            message = reply.choices[0].message
            check(bool(message.tool_calls), f"the model did not call a tool: {message}")
            messages.append(message.model_dump(exclude_none=True))
            for call in message.tool_calls or []:
                arguments = json.loads(call.function.arguments or "{}")
                print(f"tool call {call.id}: {call.function.name}({arguments})")
                result = await session.call_tool(call.function.name, arguments)
                check(not result.is_error, f"{call.function.name} failed: {result.content}")
                messages.append({"role": "tool", "tool_call_id": call.id, "content": text_of(result)})

            reply = await client.chat.completions.create(model=args.model, messages=messages, tools=tools)
            final = reply.choices[0].message.content
            print(f"final answer: {final}")
            check(final == f"The tool said: {args.text}", f"unexpected final answer {final!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("base", help="the gateway's base URL, http://127.0.0.1:PORT")
    parser.add_argument("--model", required=True, help="a model_name of the gateway's model_list")
    parser.add_argument("--text", default="hello from python", help="what the echo tool should echo")
    parser.add_argument("--timeout", type=float, default=60.0, help="overall deadline in seconds")
    args = parser.parse_args()
    run(lambda: seed_flow(args), args.timeout)


if __name__ == "__main__":
    main()
