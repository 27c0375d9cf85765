import { test } from 'node:test';

/** A real program some tests drive (never a mock of it), and how to get it on Debian. */
export interface Component {
  readonly name: string;
  /** The command that installs it, for the message that says it is missing. */
  readonly install: string;
  /** Why it can't be used on this machine, or null when it can. */
  unavailable(): Promise<string | null>;
}

const reported = new Set<Component>();

/**
 * The `skip` option of the tests that need `components`: false when every one is usable.
 * Otherwise the first missing one becomes a test of its own, "needs <name>", which says why
 * and what to install: skipped outside CI (Node's runner counts no test of a skipped suite,
 * so this one is what the summary shows), failed with CI=true, where a run that skipped the
 * tests would pass without proving anything.
 */
export async function skipUnlessAvailable(...components: Component[]): Promise<string | false> {
  for (const component of components) {
    const reason = await component.unavailable();
    if (reason === null) continue;
    // One line: the reporter prints a skip reason after a "#" on the test's own line.
    const message = `${component.name}: ${reason.replace(/\s*\n\s*/g, ' / ')}. Install it: ${component.install}`;
    if (!reported.has(component)) {
      reported.add(component);
      const name = `needs ${component.name}`;
      if (process.env.CI === 'true') test(name, () => fail(`${message} (CI=true runs every test)`));
      else test(name, { skip: message }, () => {});
    }
    return message;
  }
  return false;
}

/** Fails with the message alone: a stack into this helper would only bury what to install. */
function fail(message: string): never {
  const error = new Error(message);
  error.stack = `Error: ${message}`;
  throw error;
}

/** Memoizes a component's probe: test files ask once per suite, the answer doesn't change. */
export function component(name: string, install: string, probe: () => Promise<string | null>): Component {
  let answer: Promise<string | null> | null = null;
  return {
    name,
    install,
    unavailable: () => {
      answer ??= probe();
      return answer;
    },
  };
}
