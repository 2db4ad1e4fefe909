"""OAuth 2.1 through the official Python SDK (mcp 2.3.0), headless, on
loopback: an OAuthClientProvider whose redirect_handler signs in at
/admin/login with a key and posts the consent over HTTP, and whose
callback_handler returns code, state and iss. Twice: by Dynamic Client
Registration, and by a Client ID Metadata Document served over https on
loopback (CA from trustme) with no /register call. Then: tools/list is
exactly a read key's tools, whoami says kind oauth, an access token of 2 s
is refreshed, and a spent refresh token ends the grant (the next call: 401
with the resource_metadata challenge). Metadata documents that name
another client, are over 5 KB or are slow are refused as pages.

Needs AUTHGATE_URL (a gateway with AUTHGATE_OAUTH_ACCESS_TTL=2s,
AUTHGATE_REFRESH_REUSE_INTERVAL=0s, AUTHGATE_OAUTH_CIMD_ALLOW_LOOPBACK=true
and AUTHGATE_OAUTH_EXTRA_CA_FILE=CERTS/ca.pem), AUTHGATE_KEY (an admin
key) and CERTS (the directory ca.py wrote)."""

import asyncio
import http.server
import json
import os
import re
import socket
import ssl
import sys
import threading
import time
import urllib.parse

import httpx2
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

BASE = os.environ["AUTHGATE_URL"]
KEY = os.environ["AUTHGATE_KEY"]
CERTS = os.environ["CERTS"]
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


CALLBACK = f"http://127.0.0.1:{free_port()}/callback"
DOCS_PORT = free_port()
DOCS = f"https://127.0.0.1:{DOCS_PORT}"


def document(name):
    url = f"{DOCS}/{name}"
    doc = {"client_id": url, "client_name": "Python SDK (CIMD)", "redirect_uris": [CALLBACK],
           "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
           "token_endpoint_auth_method": "none"}
    if name == "mismatch.json":
        doc["client_id"] = f"{DOCS}/someone-else.json"
    if name == "big.json":
        doc["padding"] = "x" * 6000
    return json.dumps(doc).encode()


class Documents(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        name = self.path.lstrip("/")
        if name == "slow.json":
            time.sleep(7)
        body = document(name)
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve_documents():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", DOCS_PORT), Documents)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(f"{CERTS}/cert.pem", f"{CERTS}/key.pem")
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()


class Memory:
    def __init__(self):
        self.tokens = None
        self.client = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class Browser:
    """What a person does in the browser, over plain HTTP: sign in with a
    key, tick the read scope, allow. The redirect to the client's callback
    is read from Location (nobody listens there)."""

    def __init__(self):
        self.result = None
        self.consents = 0

    async def redirect(self, url):
        self.consents += 1
        async with httpx2.AsyncClient(follow_redirects=False) as web:
            r = await web.get(url)
            assert r.status_code == 303, f"authorize without a session: {r.status_code} {r.text[:300]}"
            login = r.headers["location"]
            return_to = urllib.parse.parse_qs(urllib.parse.urlparse(login).query)["return_to"][0]
            r = await web.post(f"{BASE}/admin/login", data={"api_key": KEY, "return_to": return_to})
            assert r.status_code == 303, f"sign-in: {r.status_code}"
            cookie = r.headers["set-cookie"].split(";")[0]
            r = await web.get(f"{BASE}{r.headers['location']}", headers={"cookie": cookie})
            assert r.status_code == 200, f"consent page: {r.status_code} {r.text[:300]}"
            fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', r.text))
            fields = {k: v.replace("&amp;", "&") for k, v in fields.items()}
            form = list(fields.items()) + [("scope", "read"), ("decision", "allow")]
            r = await web.post(f"{BASE}/oauth/authorize", content=urllib.parse.urlencode(form),
                               headers={"cookie": cookie, "content-type": "application/x-www-form-urlencoded"})
            assert r.status_code == 303, f"consent: {r.status_code} {r.text[:300]}"
            q = urllib.parse.parse_qs(urllib.parse.urlparse(r.headers["location"]).query)
            self.result = AuthorizationCodeResult(code=q["code"][0], state=q["state"][0], iss=q["iss"][0])

    async def callback(self):
        return self.result


async def read_tools():
    """The tools a read key sees, made through the admin key."""
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {KEY}"})
    async with Client(streamable_http_client(f"{BASE}/api/mcp", http_client=http), mode="legacy") as admin:
        made = await admin.call_tool("create_api_key", {"name": "python read", "scopes": ["read"]})
        read_key = made.structured_content["key"]
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {read_key}"})
    async with Client(streamable_http_client(f"{BASE}/api/mcp", http_client=http), mode="legacy") as reader:
        return sorted(t.name for t in (await reader.list_tools()).tools)


async def flow(tag, metadata_url, expected_tools):
    storage = Memory()
    browser = Browser()
    provider = OAuthClientProvider(
        server_url=f"{BASE}/api/mcp",
        client_metadata=OAuthClientMetadata(
            client_name=f"Python SDK ({tag})", redirect_uris=[CALLBACK],
            grant_types=["authorization_code", "refresh_token"], response_types=["code"],
            token_endpoint_auth_method="none", scope="read"),
        storage=storage,
        redirect_handler=browser.redirect,
        callback_handler=browser.callback,
        client_metadata_url=metadata_url,
    )
    seen = []

    async def record(request):
        seen.append(request.url.path)

    http = httpx2.AsyncClient(auth=provider, event_hooks={"request": [record]})
    async with Client(streamable_http_client(f"{BASE}/api/mcp", http_client=http), mode="legacy") as client:
        tools = sorted(t.name for t in (await client.list_tools()).tools)
        check(tools == expected_tools, f"[{tag}] tools/list is exactly the read scope's {len(expected_tools)} tools")
        me = (await client.call_tool("whoami", {})).structured_content
        check(me["kind"] == "oauth" and me["scopes"] == ["read"], f"[{tag}] whoami: kind {me['kind']}, scopes {me['scopes']}")
        check(("/oauth/register" in seen) == (metadata_url is None),
              f"[{tag}] /oauth/register {'called' if '/oauth/register' in seen else 'not called'}")
        if metadata_url:
            check(storage.client.client_id == metadata_url, f"[{tag}] the client_id is the document's URL")
        first = storage.tokens
        time.sleep(3)
        me = (await client.call_tool("whoami", {})).structured_content
        check(storage.tokens.access_token != first.access_token and me["kind"] == "oauth"
              and "/oauth/token" in seen and browser.consents == 1,
              f"[{tag}] the 2 s access token was refreshed (no second consent) and the call went through")
    # The spent refresh token presented again ends the grant.
    async with httpx2.AsyncClient() as web:
        r = await web.post(f"{BASE}/oauth/token", data={
            "grant_type": "refresh_token", "refresh_token": first.refresh_token,
            "client_id": storage.client.client_id})
        check(r.status_code == 400 and r.json()["error"] == "invalid_grant", f"[{tag}] a spent refresh token: {r.status_code}")
        r = await web.post(f"{BASE}/api/mcp", headers={
            "authorization": f"Bearer {storage.tokens.access_token}", "content-type": "application/json",
            "accept": "application/json, text/event-stream"},
            content=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        challenge = r.headers.get("www-authenticate", "")
        check(r.status_code == 401 and "resource_metadata=" in challenge and 'error="invalid_token"' in challenge,
              f"[{tag}] after reuse the grant is gone: {r.status_code} {challenge}")


async def refused_documents():
    async with httpx2.AsyncClient(timeout=30) as web:
        for name, why in [("mismatch.json", "must name itself"), ("big.json", "larger than"), ("slow.json", "timeout")]:
            url = f"{DOCS}/{name}"
            r = await web.get(f"{BASE}/oauth/authorize", params={
                "response_type": "code", "client_id": url, "redirect_uri": CALLBACK, "state": "s",
                "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256"})
            check(r.status_code == 400 and "invalid_client" in r.text and why in r.text and "location" not in r.headers,
                  f"a metadata document that {name}: {r.status_code}, refused as a page")


async def main():
    serve_documents()
    expected = await read_tools()
    await flow("DCR", None, expected)
    await flow("CIMD", f"{DOCS}/client.json", expected)
    await refused_documents()
    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        sys.exit(1)


asyncio.run(main())
