// The checks' shared harness: each check prints one line; finish() prints
// "N passed, N failed" and exits non-zero on any failure.
let passed = 0;
let failed = 0;

export async function check(name, fn) {
  try {
    await fn();
    passed += 1;
    console.log(`ok   ${name}`);
  } catch (err) {
    failed += 1;
    console.log(`FAIL ${name}: ${err?.stack ?? err}`);
  }
}

export function assert(cond, message) {
  if (!cond) throw new Error(message);
}

export function finish() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}
