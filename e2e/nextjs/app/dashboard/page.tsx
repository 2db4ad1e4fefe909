import { Suspense } from "react";
import { headers } from "next/headers";

// A protected page as the answer's notes describe it: the proxy hands it
// the user id in the x-user-id request header.
async function SignedInAs() {
  const userId = (await headers()).get("x-user-id");
  return <p data-testid="user">{userId}</p>;
}

export default function Dashboard() {
  return (
    <main>
      <Suspense fallback={<p>…</p>}>
        <SignedInAs />
      </Suspense>
      <form method="post" action="/api/auth/sign-out">
        <button type="submit">Sign out</button>
      </form>
    </main>
  );
}
