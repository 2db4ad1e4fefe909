import { useState, type FormEvent } from "react";
import { useAuth } from "./AuthProvider.tsx";

// The smallest app on AuthGate's React answer: a sign-in form, and who is
// signed in.
export default function App() {
  const { user, loading, signIn, signOut } = useAuth();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState("");

  if (loading) return <p>Loading…</p>;
  if (user) {
    return (
      <main>
        <p data-testid="who">Signed in as {user.email}</p>
        <button onClick={() => void signOut()}>Sign out</button>
      </main>
    );
  }
  const submit = (e: FormEvent) => {
    e.preventDefault();
    signIn(email, password).catch((err: Error) => setError(err.message));
  };
  return (
    <form onSubmit={submit}>
      <input name="email" type="email" value={email} onChange={(e) => setEmail(e.target.value)} />
      <input name="password" type="password" value={password} onChange={(e) => setPassword(e.target.value)} />
      <button type="submit">Sign in</button>
      {error && <p role="alert">{error}</p>}
    </form>
  );
}
