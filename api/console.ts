/**
 * The service console's files: one page for every /console/ path (the script
 * routes), its stylesheet, and web/console.ts bundled for the browser by
 * esbuild on first request. The page holds no data: it asks /api/v1 with the
 * key the user types, so these routes need none. A strict Content Security
 * Policy keeps the page to its own script, style and API.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { FastifyInstance, FastifyReply } from 'fastify';

const WEB = join(dirname(fileURLToPath(import.meta.url)), '..', 'web');

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

async function bundle(): Promise<string> {
  const out = await build({ entryPoints: [join(WEB, 'console.ts')], bundle: true, write: false, format: 'esm', target: 'es2022', logLevel: 'silent', legalComments: 'none' });
  return out.outputFiles[0]!.text;
}

function once<T>(load: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | null = null;
  return () => {
    p ??= load().catch((err: unknown) => {
      p = null; // a failed build is retried on the next request
      throw err;
    });
    return p;
  };
}

export function consoleRoutes(app: FastifyInstance): void {
  const page = once(() => readFile(join(WEB, 'console.html'), 'utf8'));
  const css = once(() => readFile(join(WEB, 'console.css'), 'utf8'));
  const js = once(bundle);
  const headers = { 'content-security-policy': CSP, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cache-control': 'no-cache' };

  const sendPage = async (_req: unknown, reply: FastifyReply) => reply.headers(headers).type('text/html; charset=utf-8').send(await page());
  app.get('/console', { schema: { hide: true } }, sendPage);
  app.get('/console/devices/:id', { schema: { hide: true } }, sendPage);
  app.get('/console/assets/console.js', { schema: { hide: true } }, async (_req, reply) => reply.headers(headers).type('text/javascript; charset=utf-8').send(await js()));
  app.get('/console/assets/console.css', { schema: { hide: true } }, async (_req, reply) => reply.headers(headers).type('text/css; charset=utf-8').send(await css()));
}
