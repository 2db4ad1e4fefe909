export default function Home() {
  return (
    <main>
      <a href="/dashboard">Dashboard</a>
    </main>
  );
}
