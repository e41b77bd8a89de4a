"""The official OpenAI Python SDK as a client of the gateway's chat-completions endpoint.

The model behind the gateway is the tests' scripted OpenAI-compatible server (there is no real
LLM here): it answers "You said: …", and with an echo tool offered it calls it and then answers
"The tool said: …".

usage: openai_chat.py BASE_URL  (the gateway's http://127.0.0.1:PORT/v1) [--timeout S]
"""

from __future__ import annotations

import argparse

import openai

from mcp_check import check, run


async def chat_checks(base_url: str) -> None:
    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-not-checked", max_retries=0, timeout=30)

    models = await client.models.list()
    ids = [m.id for m in models.data]
    print(f"models: {ids}")
    check("gpt" in ids, f"'gpt' not in /v1/models: {ids}")

    reply = await client.chat.completions.create(
        model="gpt", messages=[{"role": "user", "content": "hello sdk"}]
    )
    content = reply.choices[0].message.content
    check(content == "You said: hello sdk", f"plain completion: {content!r}")
    print(f"completion ok: {content!r}")

    stream = await client.chat.completions.create(
        model="gpt",
        messages=[{"role": "user", "content": "stream sdk"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage = "", None
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        if chunk.usage is not None:
            usage = chunk.usage
    check(text == "You said: stream sdk", f"streamed text: {text!r}")
    check(usage is not None and usage.total_tokens == 15, f"stream usage: {usage}")
    print(f"stream ok: {text!r}")

    # The gateway runs its MCP tools for the model (LiteLLM's tool shape).
    reply = await client.chat.completions.create(
        model="gpt",
        messages=[{"role": "user", "content": "Please echo 'from the sdk'"}],
        tools=[{"type": "mcp", "server_url": "litellm_proxy", "require_approval": "never"}],
    )
    content = reply.choices[0].message.content
    check(content == "The tool said: from the sdk", f"server-side tools: {content!r}")
    print(f"server-side tools ok: {content!r}")

    try:
        await client.chat.completions.create(
            model="limited", messages=[{"role": "user", "content": "hi"}]
        )
        check(False, "a 429 from the model did not raise")
    except openai.RateLimitError as e:
        check(e.status_code == 429, f"status {e.status_code}")
        check(e.code == "rate_limit_exceeded", f"code {e.code!r}")
        check("Rate limit reached for scripted-error" in e.message, f"message {e.message!r}")
        print(f"model error ok: {e.status_code} {e.code}")

    try:
        await client.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "hi"}]
        )
        check(False, "an unknown model did not raise")
    except openai.NotFoundError as e:
        check(e.code == "model_not_found", f"code {e.code!r}")
        print(f"unknown model ok: {e.status_code} {e.code}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("base_url", help="the gateway's OpenAI base URL, http://127.0.0.1:PORT/v1")
    parser.add_argument("--timeout", type=float, default=60.0, help="overall deadline in seconds")
    args = parser.parse_args()
    run(lambda: chat_checks(args.base_url), args.timeout)


if __name__ == "__main__":
    main()
