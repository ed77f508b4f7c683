import { runReplayCli } from '../replay/cli.ts';

runReplayCli().catch((err: unknown) => {
  process.stderr.write(`replay failed: ${(err as Error).message}\n`);
  process.exit(1);
});
