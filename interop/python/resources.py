"""Resources and prompts through the official Python SDK (mcp 2.3.0), once
with the initialize handshake (protocol 2025-11-25) and once stateless at
2026-07-28: the three resources read, an unknown URI refused with each
version's code (-32002, then -32602, SEP-2164), the four prompts listed
and one filled in. Needs AUTHGATE_URL and AUTHGATE_KEY."""

import asyncio
import json
import os
import sys

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

BASE = os.environ["AUTHGATE_URL"]
KEY = os.environ["AUTHGATE_KEY"]
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


async def run(mode, not_found_code):
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {KEY}"})
    transport = streamable_http_client(f"{BASE}/api/mcp", http_client=http)
    async with Client(transport, mode=mode) as client:
        tag = f"[{client.protocol_version}]"
        listed = await client.list_resources()
        uris = [str(r.uri) for r in listed.resources]
        check(uris == ["authgate://docs/tools", "authgate://project/status", "authgate://rbac/sync-schema"],
              f"{tag} resources/list: {uris}")
        docs = await client.read_resource("authgate://docs/tools")
        check("## whoami" in docs.contents[0].text, f"{tag} the tool reference reads")
        status = json.loads((await client.read_resource("authgate://project/status")).contents[0].text)
        check(status["project"]["id"].startswith("prj_"), f"{tag} the project status reads")
        schema = json.loads((await client.read_resource("authgate://rbac/sync-schema")).contents[0].text)
        check("roles" in schema.get("properties", {}), f"{tag} the sync schema reads")
        try:
            await client.read_resource("authgate://nope")
            check(False, f"{tag} an unknown URI is refused")
        except MCPError as e:
            check(e.error.code == not_found_code, f"{tag} an unknown URI answers {e.error.code}, want {not_found_code}")
        prompts = [p.name for p in (await client.list_prompts()).prompts]
        check(prompts == ["set_up_project", "weekly_review", "set_up_organization", "gdpr_export"],
              f"{tag} prompts/list: {prompts}")
        got = await client.get_prompt("set_up_organization", {"name": "Acme Corp"})
        check("'Acme Corp'" in got.messages[0].content.text, f"{tag} a prompt fills its argument")
        return client.protocol_version


async def main():
    legacy = await run("legacy", -32002)
    modern = await run("2026-07-28", -32602)
    check(legacy == "2025-11-25" and modern == "2026-07-28", f"versions: {legacy}, {modern}")
    if failures:
        sys.exit(f"{len(failures)} check(s) failed")


asyncio.run(main())
