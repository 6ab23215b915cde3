// Entry of `npm run keys -- add NAME | list | remove NAME` (see keys-command.ts).
import { runKeysCommand } from "./keys-command.ts";

process.exitCode = await runKeysCommand(process.argv.slice(2), {
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
