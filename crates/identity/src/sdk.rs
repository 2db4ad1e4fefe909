//! get_sdk_setup_instructions: working code for each framework against the
//! REST API and the JWKS of this server, with its base URL and the
//! project id filled in. The Next.js token check is run as written by the
//! interop check in `.ci/run` (with npm `jose`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum Framework {
    #[serde(rename = "nextjs")]
    NextJs,
    #[serde(rename = "react")]
    React,
    #[serde(rename = "node")]
    Node,
    #[serde(rename = "react-native")]
    ReactNative,
    #[serde(rename = "flutter")]
    Flutter,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
    pub description: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SdkFile {
    /// Where the file goes, relative to the app's root.
    pub path: String,
    pub language: String,
    pub content: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SdkInstructions {
    pub framework: Framework,
    /// This server's public URL (AUTHGATE_PUBLIC_URL).
    pub base_url: String,
    pub project_id: String,
    /// The project's public keys, for verifying access tokens.
    pub jwks_url: String,
    /// The `iss` of access tokens.
    pub issuer: String,
    /// Commands to run in the app's directory.
    pub install: Vec<String>,
    pub env: Vec<EnvVar>,
    pub files: Vec<SdkFile>,
    /// What to do next, and what to know.
    pub notes: Vec<String>,
}

fn file(path: &str, language: &str, template: &str, base_url: &str, project_id: &str) -> SdkFile {
    SdkFile {
        path: path.to_owned(),
        language: language.to_owned(),
        content: fill(template, base_url, project_id),
    }
}

fn fill(template: &str, base_url: &str, project_id: &str) -> String {
    template
        .replace("{{FETCH_CLIENT}}", FETCH_CLIENT)
        .replace("{{VERIFY_TOKEN}}", VERIFY_TOKEN)
        .replace("{{BASE_URL}}", base_url)
        .replace("{{PROJECT_ID}}", project_id)
}

fn env(name: &str, value: &str, description: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: value.to_owned(),
        description: description.to_owned(),
    }
}

const COMMON_NOTES: &[&str] = &[
    "Access tokens are EdDSA JWTs valid for the expires_in seconds of the answer that carries them (AUTHGATE_ACCESS_TOKEN_TTL, 15 minutes unless the server sets another): verify them offline against the JWKS (issuer = the base URL, audience = the project id). A token of a signed-out or revoked session still verifies offline until it expires; where that matters, call GET /api/v1/me (401 once the session has ended) or the verify_token tool.",
    "Refresh tokens rotate on every use: always keep the newest one. A used refresh token presented again within a few seconds (two tabs at once) gets a pair for the same session; later, it revokes the whole session (it is treated as stolen). Sessions, and so refresh tokens, last AUTHGATE_REFRESH_TOKEN_TTL (30 days by default) from sign-in.",
    "Errors are {\"error\": {\"code\", \"message\", \"field\"}}; 429 answers carry Retry-After.",
];

/// What one framework's answer holds besides the common parts.
struct Parts {
    install: Vec<String>,
    env: Vec<EnvVar>,
    files: Vec<SdkFile>,
    notes: Vec<String>,
}

/// Makes a file of a template with the base URL and project filled in.
struct Filler<'a> {
    base_url: &'a str,
    project_id: &'a str,
}

impl Filler<'_> {
    /// The two variables a setup reads: `{prefix}AUTHGATE_URL` and `{prefix}AUTHGATE_PROJECT_ID`.
    fn env(&self, prefix: &str, url_says: &str, project_says: &str) -> Vec<EnvVar> {
        vec![
            env(&format!("{prefix}AUTHGATE_URL"), self.base_url, url_says),
            env(
                &format!("{prefix}AUTHGATE_PROJECT_ID"),
                self.project_id,
                project_says,
            ),
        ]
    }

    /// The variables a server-side setup reads (Next.js and Node).
    fn server_env(&self) -> Vec<EnvVar> {
        self.env(
            "",
            "AuthGate's base URL (also the token issuer)",
            "your project (also the token audience)",
        )
    }

    fn file(&self, path: &str, language: &str, template: &str) -> SdkFile {
        file(path, language, template, self.base_url, self.project_id)
    }
}

pub fn instructions(framework: Framework, base_url: &str, project_id: &str) -> SdkInstructions {
    let base_url = base_url.trim_end_matches('/');
    let filler = Filler {
        base_url,
        project_id,
    };
    let mut parts = match framework {
        Framework::NextJs => next_js(&filler),
        Framework::React => react(&filler),
        Framework::Node => node(&filler),
        Framework::ReactNative => react_native(&filler),
        Framework::Flutter => flutter(&filler),
    };
    parts
        .notes
        .extend(COMMON_NOTES.iter().map(|n| (*n).to_owned()));
    SdkInstructions {
        framework,
        base_url: base_url.to_owned(),
        project_id: project_id.to_owned(),
        jwks_url: format!("{base_url}/api/v1/projects/{project_id}/jwks.json"),
        issuer: base_url.to_owned(),
        install: parts.install,
        env: parts.env,
        files: parts.files,
        notes: parts.notes,
    }
}

fn next_js(f: &Filler<'_>) -> Parts {
    let notes: Vec<String> = vec![
        "Sign-in runs in route handlers on your server, which keep the tokens in httpOnly cookies: the browser never sees them and never calls AuthGate directly, so no CORS setup is needed.".into(),
        "proxy.ts (Next.js 16's name for middleware) guards /dashboard: add your protected routes to its matcher. Protected pages read the user id from the x-user-id request header (`(await headers()).get(\"x-user-id\")`, inside <Suspense> when cacheComponents is on, as create-next-app sets it).".into(),
        "An expired access token is refreshed by the proxy on the way to any protected page (the refresh cookie is sent on every path); the cookies live as long as their tokens (expires_in, refresh_expires_in).".into(),
        "Sign out with a form posting to /api/auth/sign-out: it ends the session at AuthGate, then clears the cookies.".into(),
        "Tested with create-next-app 16.4.3's app (next 16.4.3, react 19.3.0, typescript 5.9.3, jose 6.2.18): next build without warnings, next start, and Chromium signing in, refreshing past a 3-second access token and signing out.".into(),
    ];
    Parts {
        install: vec!["npm install jose@6".to_owned()],
        env: f.server_env(),
        files: vec![
            f.file(".env.local", "dotenv", NEXT_ENV),
            f.file("lib/authgate-verify.ts", "typescript", NEXT_VERIFY),
            f.file("lib/authgate.ts", "typescript", NEXT_CLIENT),
            f.file("proxy.ts", "typescript", NEXT_PROXY),
            f.file("app/api/auth/sign-in/route.ts", "typescript", NEXT_SIGN_IN),
            f.file("app/api/auth/refresh/route.ts", "typescript", NEXT_REFRESH),
            f.file(
                "app/api/auth/sign-out/route.ts",
                "typescript",
                NEXT_SIGN_OUT,
            ),
            f.file("app/sign-in/page.tsx", "tsx", NEXT_SIGN_IN_PAGE),
            f.file("app/sign-in/SignInForm.tsx", "tsx", NEXT_SIGN_IN_FORM),
        ],
        notes,
    }
}

fn react(f: &Filler<'_>) -> Parts {
    let notes: Vec<String> = vec![
        "The browser calls AuthGate directly, so AuthGate must allow your app's origin: register a callback URL on it with add_callback (e.g. http://localhost:5173/auth/callback; loopback origins are allowed for test projects).".into(),
        "The refresh token is kept in localStorage, the access token in memory only. If your app has a backend, prefer the Next.js or Node setup, which keeps tokens in httpOnly cookies.".into(),
        "One refresh runs at a time: calls in a tab share the one in flight (StrictMode runs effects twice) and tabs take turns through the Web Locks API, each with the newest refresh token, so two tabs never end a session by spending one token twice.".into(),
        "Tested with the create-vite 9.3.0 react-ts template and its compiler flags (erasableSyntaxOnly, verbatimModuleSyntax): react 19.3.1, react-dom 19.3.1, typescript 7.0.2, vite 8.3.4, @vitejs/plugin-react 6.1.2, in Chromium under StrictMode with two tabs.".into(),
    ];
    Parts {
        install: Vec::new(),
        env: f.env("VITE_", "AuthGate's base URL", "your project"),
        files: vec![
            f.file(".env", "dotenv", REACT_ENV),
            f.file("src/authgate.ts", "typescript", REACT_CLIENT),
            f.file("src/AuthProvider.tsx", "tsx", REACT_PROVIDER),
        ],
        notes,
    }
}

fn node(f: &Filler<'_>) -> Parts {
    let notes: Vec<String> = vec![
        "requireUser verifies the access token offline on every request; use requireLiveSession where a revoked session must be refused at once (it asks AuthGate).".into(),
        "Tested with Node.js 20.20.2, express 5.3.0 and jose 6.2.18: run `node server.mjs` (PORT sets the port, 3000 by default).".into(),
    ];
    Parts {
        install: vec!["npm install jose express".to_owned()],
        env: f.server_env(),
        files: vec![
            f.file("authgate.mjs", "javascript", NODE_CLIENT),
            f.file("server.mjs", "javascript", NODE_SERVER),
        ],
        notes,
    }
}

fn react_native(f: &Filler<'_>) -> Parts {
    let notes: Vec<String> = vec![
        "Tokens are kept in the device's secure storage (Keychain / Keystore). Native apps send no Origin header, so no CORS setup is needed.".into(),
        "EXPO_PUBLIC_AUTHGATE_URL must be reachable from the device: 10.0.2.2 is the host machine inside the Android emulator (the file swaps localhost and 127.0.0.1 for it there), the iOS simulator shares the host's localhost, a phone needs the machine's LAN address, and release builds need https (Android blocks cleartext HTTP; iOS App Transport Security too).".into(),
        "Calls that need a token at the same moment share one refresh, so a refresh token is never spent twice.".into(),
        "Type-checked with react-native 0.88.1, expo-secure-store 58.0.3, react 19.3.1 and typescript 5.9.3 under Expo's TypeScript settings (strict).".into(),
    ];
    Parts {
        install: vec!["npx expo install expo-secure-store".to_owned()],
        env: f.env("EXPO_PUBLIC_", "AuthGate's base URL", "your project"),
        files: vec![f.file("lib/authgate.ts", "typescript", RN_CLIENT)],
        notes,
    }
}

fn flutter(f: &Filler<'_>) -> Parts {
    let notes: Vec<String> = vec![
        "Tokens are kept in flutter_secure_storage. Pass the base URL and project id with --dart-define (or edit the defaults in lib/authgate.dart).".into(),
        "AUTHGATE_URL must be reachable from the device: 10.0.2.2 is the host machine inside the Android emulator (the file swaps localhost and 127.0.0.1 for it there), the iOS simulator shares the host's localhost, a phone needs the machine's LAN address, and release builds need https (Android blocks cleartext HTTP; iOS App Transport Security too).".into(),
        "Calls that need a token at the same moment share one refresh, so a refresh token is never spent twice.".into(),
        "Not compiled here (no Dart toolchain on AuthGate's CI): its requests (sign-up, verify-email, sign-in, refresh, me, sign-out) are the ones the React and Node answers make, which run against a real server in CI.".into(),
    ];
    Parts {
        install: vec!["flutter pub add http flutter_secure_storage".to_owned()],
        env: f.env(
            "",
            "AuthGate's base URL (--dart-define)",
            "your project (--dart-define)",
        ),
        files: vec![f.file("lib/authgate.dart", "dart", FLUTTER_CLIENT)],
        notes,
    }
}

// ------------------------------------------------------------ Next.js

const NEXT_ENV: &str = r#"AUTHGATE_URL={{BASE_URL}}
AUTHGATE_PROJECT_ID={{PROJECT_ID}}
"#;

/// Offline verification of an access token, shared by the Next.js and Node
/// setups; `url` and `projectId` are defined before it. Plain JavaScript
/// syntax on purpose (valid TypeScript too): the interop check runs the
/// Next.js file as written.
const VERIFY_TOKEN: &str = r#"// The project's public keys, fetched once and cached; a token signed by a
// key not seen yet fetches them again.
const JWKS = createRemoteJWKSet(new URL(`${url}/api/v1/projects/${projectId}/jwks.json`));

// Verifies an AuthGate access token: EdDSA signature by a published key,
// issuer, audience (this project) and expiry. Returns its claims: sub (the
// user id), sid (the session id), and org_id and role when an organization
// is active. Throws when the token is not valid.
export async function verifyAccessToken(token = "") {
  const { payload } = await jwtVerify(token, JWKS, {
    issuer: url,
    audience: projectId,
    algorithms: ["EdDSA"],
  });
  return payload;
}
"#;

const NEXT_VERIFY: &str = r#"import { createRemoteJWKSet, jwtVerify } from "jose";

const url = process.env.AUTHGATE_URL;
const projectId = process.env.AUTHGATE_PROJECT_ID;

{{VERIFY_TOKEN}}"#;

const NEXT_CLIENT: &str = r#"// Server-side calls to AuthGate's REST API (route handlers, server actions).
const BASE = process.env.AUTHGATE_URL;
const PROJECT = process.env.AUTHGATE_PROJECT_ID ?? "";

export type AuthGateUser = {
  id: string;
  email: string;
  name: string | null;
  email_verified: boolean;
};

export type Tokens = {
  session_id: string;
  access_token: string;
  refresh_token: string;
  // Seconds the access token lives (AUTHGATE_ACCESS_TOKEN_TTL).
  expires_in: number;
  // Seconds until the session, and its refresh token, ends.
  refresh_expires_in: number;
};

export type SignedIn = Tokens & { user: AuthGateUser };

export class AuthGateError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | null;

  constructor(status: number, code: string, field: string | null, message: string) {
    super(message);
    this.name = "AuthGateError";
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

async function call<T>(path: string, body?: unknown, accessToken?: string): Promise<T> {
  const headers: Record<string, string> = { "x-authgate-project": PROJECT };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (accessToken) headers["authorization"] = `Bearer ${accessToken}`;
  const res = await fetch(`${BASE}/api/v1${path}`, {
    method: body === undefined && path === "/me" ? "GET" : "POST",
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  if (res.status === 202 || res.status === 204) return undefined as T;
  const data = await res.json();
  if (!res.ok) {
    throw new AuthGateError(res.status, data.error.code, data.error.field, data.error.message);
  }
  return data as T;
}

export const signUp = (email: string, password: string, name?: string) =>
  call<{ user: AuthGateUser }>("/auth/sign-up", { email, password, name });
export const verifyEmail = (email: string, code: string) =>
  call<{ user: AuthGateUser }>("/auth/verify-email", { email, code });
export const signIn = (email: string, password: string, mfa_code?: string) =>
  call<SignedIn>("/auth/sign-in", { email, password, mfa_code });
export const refresh = (refresh_token: string) => call<Tokens>("/auth/refresh", { refresh_token });
export const signOut = (accessToken: string) => call<void>("/auth/sign-out", undefined, accessToken);
export const me = (accessToken: string) =>
  call<{ user: AuthGateUser; session: { id: string } }>("/me", undefined, accessToken);
export const requestPasswordReset = (email: string, redirect_url?: string) =>
  call<void>("/auth/password-reset/request", { email, redirect_url });
export const confirmPasswordReset = (token: string, new_password: string) =>
  call<{ user: AuthGateUser }>("/auth/password-reset/confirm", { token, new_password });

type CookieJar = {
  cookies: {
    set: (name: string, value: string, options: object) => unknown;
    delete: (name: string) => unknown;
  };
};

// Session cookies: httpOnly (page scripts never read the tokens), sent on
// every path so the proxy sees both, living as long as their tokens.
export function setSessionCookies(res: CookieJar, tokens: Tokens) {
  const secure = process.env.NODE_ENV === "production";
  const options = { httpOnly: true, secure, sameSite: "lax", path: "/" };
  res.cookies.set("ag_access", tokens.access_token, { ...options, maxAge: tokens.expires_in });
  res.cookies.set("ag_refresh", tokens.refresh_token, { ...options, maxAge: tokens.refresh_expires_in });
}

export function clearSessionCookies(res: CookieJar) {
  res.cookies.delete("ag_access");
  res.cookies.delete("ag_refresh");
}

// Where to go after signing in or refreshing: `next` only if it stays on
// this app's origin (so `//evil.test` or `/\evil.test` cannot send the user
// away), else the fallback.
export function safeNext(next: string | null, requestUrl: string, fallback = "/dashboard") {
  if (!next || !next.startsWith("/")) return fallback;
  const base = new URL(requestUrl);
  const target = new URL(next, base);
  if (target.origin !== base.origin) return fallback;
  return `${target.pathname}${target.search}${target.hash}`;
}
"#;

const NEXT_PROXY: &str = r#"import { NextResponse, type NextRequest } from "next/server";
import { verifyAccessToken } from "@/lib/authgate-verify";

// Next.js 16's request filter (it was middleware.ts). Protected pages get
// the user in the x-user-id (and x-session-id) request header; an expired
// access token is refreshed on the way, and anyone signed out goes to the
// sign-in page, coming back here after.
export async function proxy(req: NextRequest) {
  const token = req.cookies.get("ag_access")?.value;
  if (token) {
    try {
      const claims = await verifyAccessToken(token);
      const headers = new Headers(req.headers);
      headers.set("x-user-id", String(claims.sub));
      headers.set("x-session-id", String(claims.sid));
      return NextResponse.next({ request: { headers } });
    } catch {
      // Expired or not valid: the refresh token decides below.
    }
  }
  const here = `${req.nextUrl.pathname}${req.nextUrl.search}`;
  const to = new URL(req.cookies.has("ag_refresh") ? "/api/auth/refresh" : "/sign-in", req.url);
  to.searchParams.set("next", here);
  return NextResponse.redirect(to);
}

// The pages that need a signed-in user: add yours.
export const config = { matcher: ["/dashboard/:path*"] };
"#;

const NEXT_SIGN_IN: &str = r#"import { NextResponse } from "next/server";
import { AuthGateError, setSessionCookies, signIn } from "@/lib/authgate";

// POST {email, password, mfa_code?}: signs in and sets the session cookies.
export async function POST(req: Request) {
  const { email, password, mfa_code } = await req.json();
  try {
    const session = await signIn(email, password, mfa_code);
    const res = NextResponse.json({ user: session.user });
    setSessionCookies(res, session);
    return res;
  } catch (e) {
    if (e instanceof AuthGateError) {
      return NextResponse.json(
        { error: { code: e.code, message: e.message, field: e.field } },
        { status: e.status },
      );
    }
    throw e;
  }
}
"#;

const NEXT_REFRESH: &str = r#"import { NextResponse, type NextRequest } from "next/server";
import { clearSessionCookies, refresh, safeNext, setSessionCookies } from "@/lib/authgate";

// GET ?next=PATH: new tokens for the refresh cookie, then back to PATH
// (only on this app's origin); with none that works, to the sign-in page.
export async function GET(req: NextRequest) {
  const next = safeNext(req.nextUrl.searchParams.get("next"), req.url);
  const token = req.cookies.get("ag_refresh")?.value;
  if (token) {
    try {
      const tokens = await refresh(token);
      const res = NextResponse.redirect(new URL(next, req.url));
      setSessionCookies(res, tokens);
      return res;
    } catch {
      // Reused, expired or revoked: sign in again.
    }
  }
  const signIn = new URL("/sign-in", req.url);
  signIn.searchParams.set("next", next);
  const res = NextResponse.redirect(signIn);
  clearSessionCookies(res);
  return res;
}
"#;

const NEXT_SIGN_IN_PAGE: &str = r#"import { Suspense } from "react";
import { SignInForm } from "./SignInForm";

export default function SignInPage() {
  return (
    <main>
      <h1>Sign in</h1>
      <Suspense>
        <SignInForm />
      </Suspense>
    </main>
  );
}
"#;

const NEXT_SIGN_IN_FORM: &str = r#""use client";

import { useState, type FormEvent } from "react";
import { useSearchParams } from "next/navigation";

export function SignInForm() {
  const params = useSearchParams();
  const [error, setError] = useState("");

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const res = await fetch("/api/auth/sign-in", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        email: form.get("email"),
        password: form.get("password"),
        mfa_code: form.get("mfa_code") || undefined,
      }),
    });
    if (!res.ok) {
      setError((await res.json()).error?.message ?? "Could not sign in");
      return;
    }
    // Back where the user was going, if that is on this app's origin.
    const next = params.get("next");
    const target = next?.startsWith("/") ? new URL(next, window.location.origin) : null;
    window.location.assign(target?.origin === window.location.origin ? target.href : "/dashboard");
  }

  return (
    <form onSubmit={submit}>
      <input name="email" type="email" placeholder="Email" required />
      <input name="password" type="password" placeholder="Password" required />
      <input name="mfa_code" inputMode="numeric" placeholder="Authenticator code (if on)" />
      <button type="submit">Sign in</button>
      {error && <p role="alert">{error}</p>}
    </form>
  );
}
"#;

const NEXT_SIGN_OUT: &str = r#"import { NextResponse, type NextRequest } from "next/server";
import { clearSessionCookies, refresh, signOut } from "@/lib/authgate";

// POST: ends the session at AuthGate (its refresh token stops working at
// once; verify_token reports it revoked), clears the cookies and goes to
// the sign-in page. An expired access token is refreshed first, so the
// session ends whatever the cookies hold.
export async function POST(req: NextRequest) {
  let access = req.cookies.get("ag_access")?.value;
  const refreshToken = req.cookies.get("ag_refresh")?.value;
  if (!access && refreshToken) {
    access = await refresh(refreshToken).then((t) => t.access_token, () => undefined);
  }
  if (access) {
    await signOut(access).catch(() => undefined);
  }
  const res = NextResponse.redirect(new URL("/sign-in", req.url), 303);
  clearSessionCookies(res);
  return res;
}
"#;

// ------------------------------------------------------------ React

const REACT_ENV: &str = r#"VITE_AUTHGATE_URL={{BASE_URL}}
VITE_AUTHGATE_PROJECT_ID={{PROJECT_ID}}
"#;

const REACT_CLIENT: &str = r#"const BASE = import.meta.env.VITE_AUTHGATE_URL ?? "{{BASE_URL}}";
const PROJECT = import.meta.env.VITE_AUTHGATE_PROJECT_ID ?? "{{PROJECT_ID}}";
const REFRESH_KEY = "authgate.refresh_token";

export type AuthGateUser = { id: string; email: string; name: string | null; email_verified: boolean };
type Tokens = { session_id: string; access_token: string; refresh_token: string; expires_in: number };

let accessToken: string | null = null;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let refreshing: Promise<boolean> | null = null;

{{FETCH_CLIENT}}
function keep(tokens: Tokens) {
  accessToken = tokens.access_token;
  localStorage.setItem(REFRESH_KEY, tokens.refresh_token);
  clearTimeout(refreshTimer);
  // Refresh before the access token expires: its lifetime is the server's
  // (expires_in), a minute or a fifth of it early, whichever is less.
  const early = Math.min(60, tokens.expires_in / 5);
  refreshTimer = setTimeout(() => void refreshSession(), Math.max(1, tokens.expires_in - early) * 1000);
}

export async function signUp(email: string, password: string, name?: string) {
  return call<{ user: AuthGateUser }>("POST", "/auth/sign-up", { email, password, name });
}

export async function verifyEmail(email: string, code: string) {
  return call<{ user: AuthGateUser }>("POST", "/auth/verify-email", { email, code });
}

export async function signIn(email: string, password: string, mfa_code?: string) {
  const session = await call<Tokens & { user: AuthGateUser }>("POST", "/auth/sign-in", { email, password, mfa_code });
  keep(session);
  return session.user;
}

// Runs `work` holding the refresh lock, shared by every tab of the app (the
// Web Locks API), so two tabs never spend the same refresh token.
function exclusively<T>(work: () => Promise<T>): Promise<T> {
  if (typeof navigator !== "undefined" && navigator.locks) {
    return navigator.locks.request("authgate.refresh", work);
  }
  return work();
}

// Exchanges the stored refresh token for new tokens (the old one is spent).
// One refresh at a time: calls in this tab share the one in flight (React's
// StrictMode runs effects twice), and tabs take turns, each reading the
// newest token when its turn comes.
export function refreshSession(): Promise<boolean> {
  refreshing ??= exclusively(async () => {
    const refresh_token = localStorage.getItem(REFRESH_KEY);
    if (!refresh_token) return false;
    try {
      keep(await call<Tokens>("POST", "/auth/refresh", { refresh_token }));
      return true;
    } catch {
      if (localStorage.getItem(REFRESH_KEY) === refresh_token) localStorage.removeItem(REFRESH_KEY);
      accessToken = null;
      return false;
    }
  }).finally(() => {
    refreshing = null;
  });
  return refreshing;
}

export async function currentUser(): Promise<AuthGateUser | null> {
  if (!accessToken && !(await refreshSession())) return null;
  try {
    return (await call<{ user: AuthGateUser }>("GET", "/me", undefined, accessToken)).user;
  } catch {
    return null;
  }
}

// Ends the session at AuthGate (every tab's refresh token stops working).
export async function signOut() {
  if (accessToken) await call<void>("POST", "/auth/sign-out", undefined, accessToken).catch(() => undefined);
  accessToken = null;
  clearTimeout(refreshTimer);
  localStorage.removeItem(REFRESH_KEY);
}

// For calls to your own API: send it as Authorization: Bearer <token>.
export function getAccessToken() {
  return accessToken;
}
"#;

const REACT_PROVIDER: &str = r#"import { createContext, useContext, useEffect, useState, type ReactNode } from "react";
import * as authgate from "./authgate";

type AuthState = {
  user: authgate.AuthGateUser | null;
  loading: boolean;
  signIn: (email: string, password: string, mfaCode?: string) => Promise<void>;
  signOut: () => Promise<void>;
};

const AuthContext = createContext<AuthState | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [user, setUser] = useState<authgate.AuthGateUser | null>(null);
  const [loading, setLoading] = useState(true);

  useEffect(() => {
    authgate.currentUser().then((u) => {
      setUser(u);
      setLoading(false);
    });
  }, []);

  const value: AuthState = {
    user,
    loading,
    signIn: async (email, password, mfaCode) => setUser(await authgate.signIn(email, password, mfaCode)),
    signOut: async () => {
      await authgate.signOut();
      setUser(null);
    },
  };
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth() {
  const state = useContext(AuthContext);
  if (!state) throw new Error("useAuth must be used inside <AuthProvider>");
  return state;
}
"#;

// ------------------------------------------------------------ Node

const NODE_CLIENT: &str = r#"import { createRemoteJWKSet, jwtVerify } from "jose";

const url = process.env.AUTHGATE_URL ?? "{{BASE_URL}}";
const projectId = process.env.AUTHGATE_PROJECT_ID ?? "{{PROJECT_ID}}";

{{VERIFY_TOKEN}}
// Calls AuthGate's REST API; throws an Error with .status, .code and .field.
export async function authgate(method, path, { body, accessToken } = {}) {
  const headers = { "x-authgate-project": projectId };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (accessToken) headers.authorization = `Bearer ${accessToken}`;
  const res = await fetch(`${url}/api/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 202 || res.status === 204) return undefined;
  const data = await res.json();
  if (!res.ok) {
    throw Object.assign(new Error(data.error.message), {
      status: res.status,
      code: data.error.code,
      field: data.error.field,
    });
  }
  return data;
}

function bearer(req) {
  const header = req.headers.authorization ?? "";
  return header.startsWith("Bearer ") ? header.slice(7) : null;
}

// Express middleware: req.user = { id, sessionId, orgId, role } or 401.
export async function requireUser(req, res, next) {
  const token = bearer(req);
  if (!token) return res.status(401).json({ error: "sign in first" });
  try {
    const claims = await verifyAccessToken(token);
    req.user = { id: claims.sub, sessionId: claims.sid, orgId: claims.org_id, role: claims.role };
    next();
  } catch {
    res.status(401).json({ error: "access token is not valid; refresh it" });
  }
}

// Like requireUser, but asks AuthGate, so a revoked session is refused at once.
export async function requireLiveSession(req, res, next) {
  const token = bearer(req);
  if (!token) return res.status(401).json({ error: "sign in first" });
  try {
    const { user, session } = await authgate("GET", "/me", { accessToken: token });
    req.user = { id: user.id, sessionId: session.id, email: user.email };
    next();
  } catch (e) {
    res.status(e.status === 401 ? 401 : 502).json({ error: e.message });
  }
}
"#;

const NODE_SERVER: &str = r#"import express from "express";
import { authgate, requireLiveSession, requireUser } from "./authgate.mjs";

const app = express();
app.use(express.json());

// Sign-in proxied through your server, which can set its own cookies.
app.post("/auth/sign-in", async (req, res) => {
  try {
    const { email, password, mfa_code } = req.body;
    res.json(await authgate("POST", "/auth/sign-in", { body: { email, password, mfa_code } }));
  } catch (e) {
    res.status(e.status ?? 500).json({ error: { code: e.code, message: e.message, field: e.field } });
  }
});

app.get("/api/profile", requireUser, (req, res) => {
  res.json({ userId: req.user.id, sessionId: req.user.sessionId });
});

app.post("/api/transfer", requireLiveSession, (req, res) => {
  res.json({ ok: true, by: req.user.id });
});

const port = Number(process.env.PORT ?? 3000);
app.listen(port, () => console.log(`listening on http://localhost:${port}`));
"#;

/// The error class and fetch wrapper that the browser and React Native clients share.
const FETCH_CLIENT: &str = r#"export class AuthGateError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | null;

  constructor(status: number, code: string, field: string | null, message: string) {
    super(message);
    this.name = "AuthGateError";
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

async function call<T>(method: string, path: string, body?: unknown, token?: string | null): Promise<T> {
  const headers: Record<string, string> = { "X-AuthGate-Project": PROJECT };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers["Authorization"] = `Bearer ${token}`;
  const res = await fetch(`${BASE}/api/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 202 || res.status === 204) return undefined as T;
  const data = await res.json();
  if (!res.ok) throw new AuthGateError(res.status, data.error.code, data.error.field, data.error.message);
  return data as T;
}
"#;

// ------------------------------------------------------------ React Native

const RN_CLIENT: &str = r#"import { Platform } from "react-native";
import * as SecureStore from "expo-secure-store";

// The server as your app reaches it. Inside the Android emulator 127.0.0.1 is
// the emulator itself (the host machine is 10.0.2.2); on a phone use the
// machine's LAN address, and in release builds an https URL (Android blocks
// cleartext HTTP and iOS App Transport Security does too).
const CONFIGURED = process.env.EXPO_PUBLIC_AUTHGATE_URL ?? "{{BASE_URL}}";
const BASE =
  Platform.OS === "android" ? CONFIGURED.replace(/\/\/(localhost|127\.0\.0\.1)(?=[:/]|$)/, "//10.0.2.2") : CONFIGURED;
const PROJECT = process.env.EXPO_PUBLIC_AUTHGATE_PROJECT_ID ?? "{{PROJECT_ID}}";
const REFRESH_KEY = "authgate.refresh_token";

export type AuthGateUser = { id: string; email: string; name: string | null; email_verified: boolean };
type Tokens = { session_id: string; access_token: string; refresh_token: string; expires_in: number };

let accessToken: string | null = null;
let accessExpiresAt = 0;
let refreshing: Promise<string | null> | null = null;

{{FETCH_CLIENT}}
async function keep(tokens: Tokens) {
  accessToken = tokens.access_token;
  accessExpiresAt = Date.now() + tokens.expires_in * 1000;
  await SecureStore.setItemAsync(REFRESH_KEY, tokens.refresh_token);
}

export async function signUp(email: string, password: string, name?: string) {
  return (await call<{ user: AuthGateUser }>("POST", "/auth/sign-up", { email, password, name })).user;
}

export async function verifyEmail(email: string, code: string) {
  return (await call<{ user: AuthGateUser }>("POST", "/auth/verify-email", { email, code })).user;
}

export async function signIn(email: string, password: string, mfa_code?: string) {
  const session = await call<Tokens & { user: AuthGateUser }>("POST", "/auth/sign-in", { email, password, mfa_code });
  await keep(session);
  return session.user;
}

// A valid access token, refreshed shortly before it expires (its lifetime
// is the server's expires_in); null when signed out. Callers at the same
// moment share one refresh, so a refresh token is never spent twice.
export function getAccessToken(): Promise<string | null> {
  const early = Math.min(60_000, (accessExpiresAt - Date.now()) / 5);
  if (accessToken && Date.now() < accessExpiresAt - early) return Promise.resolve(accessToken);
  refreshing ??= (async () => {
    const refresh_token = await SecureStore.getItemAsync(REFRESH_KEY);
    if (!refresh_token) return null;
    try {
      await keep(await call<Tokens>("POST", "/auth/refresh", { refresh_token }));
      return accessToken;
    } catch {
      await SecureStore.deleteItemAsync(REFRESH_KEY);
      accessToken = null;
      return null;
    }
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

export async function currentUser(): Promise<AuthGateUser | null> {
  const token = await getAccessToken();
  if (!token) return null;
  return (await call<{ user: AuthGateUser }>("GET", "/me", undefined, token)).user;
}

// Ends the session at AuthGate.
export async function signOut() {
  if (accessToken) await call<void>("POST", "/auth/sign-out", undefined, accessToken).catch(() => undefined);
  accessToken = null;
  await SecureStore.deleteItemAsync(REFRESH_KEY);
}
"#;

// ------------------------------------------------------------ Flutter

const FLUTTER_CLIENT: &str = r#"import 'dart:convert';

import 'dart:io' show Platform;

import 'package:flutter_secure_storage/flutter_secure_storage.dart';
import 'package:http/http.dart' as http;

class AuthGateException implements Exception {
  AuthGateException(this.status, this.code, this.field, this.message);
  final int status;
  final String code;
  final String? field;
  final String message;
  @override
  String toString() => 'AuthGateException($status $code: $message)';
}

/// The server as the app reaches it: inside the Android emulator 127.0.0.1
/// is the emulator itself, and the host machine is 10.0.2.2.
String _reachable(String url) => Platform.isAndroid
    ? url.replaceFirstMapped(RegExp(r'//(localhost|127\.0\.0\.1)(?=[:/]|$)'), (_) => '//10.0.2.2')
    : url;

class AuthGate {
  AuthGate({
    String baseUrl = const String.fromEnvironment('AUTHGATE_URL', defaultValue: '{{BASE_URL}}'),
    this.projectId = const String.fromEnvironment('AUTHGATE_PROJECT_ID', defaultValue: '{{PROJECT_ID}}'),
  }) : baseUrl = _reachable(baseUrl);

  final String baseUrl;
  final String projectId;
  final _storage = const FlutterSecureStorage();
  static const _refreshKey = 'authgate.refresh_token';
  String? _accessToken;
  DateTime _accessExpiresAt = DateTime.fromMillisecondsSinceEpoch(0);
  Future<String?>? _refreshing;

  Future<Map<String, dynamic>?> _call(String method, String path,
      {Map<String, dynamic>? body, String? token}) async {
    final headers = {'X-AuthGate-Project': projectId};
    if (body != null) headers['Content-Type'] = 'application/json';
    if (token != null) headers['Authorization'] = 'Bearer $token';
    final request = http.Request(method, Uri.parse('$baseUrl/api/v1$path'))..headers.addAll(headers);
    if (body != null) request.body = jsonEncode(body);
    final response = await http.Response.fromStream(await request.send());
    if (response.statusCode == 202 || response.statusCode == 204) return null;
    final data = jsonDecode(response.body) as Map<String, dynamic>;
    if (response.statusCode >= 400) {
      final e = data['error'] as Map<String, dynamic>;
      throw AuthGateException(response.statusCode, e['code'] as String, e['field'] as String?, e['message'] as String);
    }
    return data;
  }

  Future<void> _keep(Map<String, dynamic> tokens) async {
    _accessToken = tokens['access_token'] as String;
    _accessExpiresAt = DateTime.now().add(Duration(seconds: tokens['expires_in'] as int));
    await _storage.write(key: _refreshKey, value: tokens['refresh_token'] as String);
  }

  Future<Map<String, dynamic>> signUp(String email, String password, {String? name}) async =>
      (await _call('POST', '/auth/sign-up', body: {'email': email, 'password': password, 'name': name}))!['user'];

  Future<Map<String, dynamic>> verifyEmail(String email, String code) async =>
      (await _call('POST', '/auth/verify-email', body: {'email': email, 'code': code}))!['user'];

  Future<Map<String, dynamic>> signIn(String email, String password, {String? mfaCode}) async {
    final session = (await _call('POST', '/auth/sign-in',
        body: {'email': email, 'password': password, 'mfa_code': mfaCode}))!;
    await _keep(session);
    return session['user'] as Map<String, dynamic>;
  }

  /// A valid access token, refreshed shortly before it expires (its
  /// lifetime is the server's expires_in); null when signed out. Callers at
  /// the same moment share one refresh, so a refresh token is never spent
  /// twice.
  Future<String?> accessToken() {
    final left = _accessExpiresAt.difference(DateTime.now());
    final early = left ~/ 5 < const Duration(minutes: 1) ? left ~/ 5 : const Duration(minutes: 1);
    if (_accessToken != null && left > early) return Future.value(_accessToken);
    return _refreshing ??= _refresh().whenComplete(() => _refreshing = null);
  }

  Future<String?> _refresh() async {
    final refreshToken = await _storage.read(key: _refreshKey);
    if (refreshToken == null) return null;
    try {
      await _keep((await _call('POST', '/auth/refresh', body: {'refresh_token': refreshToken}))!);
      return _accessToken;
    } on AuthGateException {
      await _storage.delete(key: _refreshKey);
      _accessToken = null;
      return null;
    }
  }

  Future<Map<String, dynamic>?> currentUser() async {
    final token = await accessToken();
    if (token == null) return null;
    return (await _call('GET', '/me', token: token))!['user'] as Map<String, dynamic>;
  }

  Future<void> signOut() async {
    final token = _accessToken;
    if (token != null) {
      try {
        await _call('POST', '/auth/sign-out', token: token);
      } on AuthGateException {
        // Already ended.
      }
    }
    _accessToken = null;
    await _storage.delete(key: _refreshKey);
  }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_framework_is_filled_in() {
        for fw in [
            Framework::NextJs,
            Framework::React,
            Framework::Node,
            Framework::ReactNative,
            Framework::Flutter,
        ] {
            let out = instructions(
                fw,
                "https://auth.example.com/",
                "prj_01JD8X3V9Q4K7M2N5P6R8S0T1W",
            );
            assert_eq!(out.base_url, "https://auth.example.com");
            assert!(!out.files.is_empty());
            for f in &out.files {
                assert!(
                    !f.content.contains("{{"),
                    "{fw:?} {} has an unfilled placeholder",
                    f.path
                );
            }
            let all: String = out
                .files
                .iter()
                .map(|f| f.content.as_str())
                .collect::<Vec<_>>()
                .join("\n")
                + &out
                    .env
                    .iter()
                    .map(|e| e.value.as_str())
                    .collect::<Vec<_>>()
                    .join("\n");
            assert!(
                all.contains("https://auth.example.com"),
                "{fw:?} names the base URL"
            );
            assert!(
                all.contains("prj_01JD8X3V9Q4K7M2N5P6R8S0T1W"),
                "{fw:?} names the project"
            );
        }
        let next = instructions(Framework::NextJs, "http://127.0.0.1:8080", "prj_x");
        let verify = next
            .files
            .iter()
            .find(|f| f.path == "lib/authgate-verify.ts")
            .map(|f| f.content.as_str());
        let verify = verify.unwrap_or_default();
        assert!(verify.contains("createRemoteJWKSet") && verify.contains("audience: projectId"));
        assert_eq!(
            next.jwks_url,
            "http://127.0.0.1:8080/api/v1/projects/prj_x/jwks.json"
        );
    }
}
