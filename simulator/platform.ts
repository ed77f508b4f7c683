/**
 * The platform's HTTP API as the simulator uses it: register devices in
 * bulk, or — when they exist from an earlier run with the same seed —
 * rotate their secrets (and re-enable them) so each device gets a fresh
 * password for this run.
 */
export interface DeviceRegistration {
  id: string;
  type: string;
  model?: string;
  site?: string;
  owner?: string;
}

export interface PlatformOptions {
  apiUrl: string;
  apiKey: string;
  /** Parallel requests when rotating secrets one by one. */
  concurrency?: number;
  onProgress?: (done: number, total: number, what: string) => void;
}

const BULK_MAX = 2000;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    message: string,
  ) {
    super(message);
  }
}

export function createPlatformClient(o: PlatformOptions) {
  const base = o.apiUrl.replace(/\/+$/, '') + '/api/v1';

  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${o.apiKey}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      throw new Error(`cannot reach the fleetdoc API at ${o.apiUrl} (${(err as Error).message})`, { cause: err });
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // keep the text
    }
    if (!res.ok) {
      const msg = (parsed as { message?: string })?.message ?? text.slice(0, 200);
      throw new ApiError(res.status, parsed, `${method} ${path} → ${res.status}: ${msg}`);
    }
    return parsed as T;
  }

  async function existingIds(types: string[]): Promise<Map<string, { type: string; status: string }>> {
    const found = new Map<string, { type: string; status: string }>();
    for (const type of types) {
      for (let offset = 0; ; offset += 10_000) {
        const page = await call<{ items: { id: string; type: string; status: string }[]; total: number }>(
          'GET',
          `/devices?type=${encodeURIComponent(type)}&limit=10000&offset=${offset}`,
        );
        for (const d of page.items) found.set(d.id, { type: d.type, status: d.status });
        if (page.items.length < 10_000) break;
      }
    }
    return found;
  }

  async function pool<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
    let next = 0;
    const workers = Array.from({ length: Math.min(items.length, o.concurrency ?? 16) }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    });
    await Promise.all(workers);
  }

  return {
    call,
    /** Registers (or re-credentials) every device; returns id → secret. */
    async ensureDevices(devices: DeviceRegistration[]): Promise<Map<string, string>> {
      const secrets = new Map<string, string>();
      let existing: Map<string, { type: string; status: string }> | undefined;
      const total = devices.length;
      for (let i = 0; i < devices.length; i += BULK_MAX) {
        let chunk = devices.slice(i, i + BULK_MAX);
        if (existing) chunk = chunk.filter((d) => !existing!.has(d.id));
        if (chunk.length > 0) {
          try {
            const res = await call<{ devices: { device: { id: string }; secret: string }[] }>('POST', '/devices/bulk', { devices: chunk });
            for (const d of res.devices) secrets.set(d.device.id, d.secret);
          } catch (err) {
            if (!(err instanceof ApiError) || err.status !== 409 || existing) throw err;
            // some exist (an earlier run with this seed): look them all up once, then retry this chunk
            existing = await existingIds([...new Set(devices.map((d) => d.type))]);
            i -= BULK_MAX;
            continue;
          }
        }
        o.onProgress?.(Math.min(i + BULK_MAX, total), total, 'registering');
      }
      if (existing) {
        const reuse = devices.filter((d) => existing!.has(d.id));
        for (const d of reuse) {
          const e = existing.get(d.id)!;
          if (e.type !== d.type) throw new Error(`device ${d.id} exists with type ${e.type}, not ${d.type}; use another --seed`);
        }
        let done = 0;
        await pool(reuse, async (d) => {
          if (existing!.get(d.id)!.status === 'disabled') await call('PATCH', `/devices/${encodeURIComponent(d.id)}`, { status: 'active' });
          const r = await call<{ secret: string }>('POST', `/devices/${encodeURIComponent(d.id)}/secret`);
          secrets.set(d.id, r.secret);
          if (++done % 100 === 0 || done === reuse.length) o.onProgress?.(done, reuse.length, 'rotating secrets');
        });
      }
      return secrets;
    },
  };
}

export type PlatformClient = ReturnType<typeof createPlatformClient>;
