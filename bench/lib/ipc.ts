/**
 * Request/response over a forked child's IPC channel: the parent sends
 * `{id, type, ...}`, the child answers `{id, ok, result | error}`. Children
 * may also push unsolicited `{event, ...}` messages.
 */
import type { ChildProcess } from 'node:child_process';

export interface Request {
  id: number;
  type: string;
  [k: string]: unknown;
}

type Response = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

export function createRpc(child: ChildProcess, name: string) {
  let next = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  const failAll = (why: string) => {
    for (const [id, p] of pending) {
      clearTimeout(p.timer);
      p.reject(new Error(`${name}: ${why}`));
      pending.delete(id);
    }
  };
  child.on('message', (m: unknown) => {
    const r = m as Partial<Response>;
    if (typeof r.id !== 'number') return;
    const p = pending.get(r.id);
    if (!p) return;
    pending.delete(r.id);
    clearTimeout(p.timer);
    if (r.ok) p.resolve((r as { result: unknown }).result);
    else p.reject(new Error(`${name}: ${(r as { error?: string }).error ?? 'failed'}`));
  });
  child.on('exit', (code, signal) => failAll(`exited (code ${code}, signal ${signal})`));

  return function call<T>(type: string, args: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<T> {
    if (!child.connected) return Promise.reject(new Error(`${name}: not connected`));
    const id = next++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`${name}: ${type} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      child.send({ id, type, ...args });
    });
  };
}

export type Rpc = ReturnType<typeof createRpc>;

/** Child side: answers requests with the handler's result or error. */
export function serveRpc(handlers: Record<string, (req: Request) => unknown>): void {
  process.on('message', (m: unknown) => {
    const req = m as Request;
    if (typeof req?.id !== 'number' || typeof req.type !== 'string') return;
    const handler = handlers[req.type];
    const reply = (r: Response) => {
      if (process.connected) process.send?.(r);
    };
    if (!handler) return reply({ id: req.id, ok: false, error: `unknown request ${req.type}` });
    Promise.resolve()
      .then(() => handler(req))
      .then(
        (result) => reply({ id: req.id, ok: true, result: result ?? null }),
        (err: unknown) => reply({ id: req.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
      );
  });
}
