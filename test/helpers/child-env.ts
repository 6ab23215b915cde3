// The environment of a child process that a test starts with a minimal environment of its own: PATH, plus the
// clock settings of the test run itself (`make test-future` runs the suites under libfaketime a year ahead, and
// a child on the real clock would disagree with its parent about "now").
const CLOCK_VARIABLES = /^(LD_PRELOAD|FAKETIME.*|DONT_FAKE_MONOTONIC|TZ)$/;

export function childEnv(
  env: Record<string, string> = {},
): Record<string, string> {
  const inherited: Record<string, string> = { PATH: process.env.PATH ?? "" };
  for (const [name, value] of Object.entries(process.env))
    if (value !== undefined && CLOCK_VARIABLES.test(name))
      inherited[name] = value;
  return { ...inherited, ...env };
}
