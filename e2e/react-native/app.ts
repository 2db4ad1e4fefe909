// How an app uses the answer's lib/authgate.ts: every export, typed.
import { AuthGateError, currentUser, getAccessToken, signIn, signOut, signUp, verifyEmail } from "./lib/authgate";

export async function flow(email: string, password: string, code: string): Promise<string | null> {
  await signUp(email, password);
  await verifyEmail(email, code);
  const user = await signIn(email, password);
  const token: string | null = await getAccessToken();
  const me = await currentUser();
  await signOut();
  return token && me && me.id === user.id ? user.email : null;
}

export function describe(e: unknown): string {
  return e instanceof AuthGateError ? `${e.status} ${e.code} ${e.field ?? ""}` : String(e);
}
