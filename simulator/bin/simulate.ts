import { runSimulateCli } from '../cli.ts';

runSimulateCli().catch((err: unknown) => {
  process.stderr.write(`simulate failed: ${(err as Error).message}\n`);
  process.exit(1);
});
