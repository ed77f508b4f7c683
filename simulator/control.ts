/**
 * A small HTTP control endpoint for a running simulation (127.0.0.1 only):
 *   POST /remedy {"device","fault","by":"owner"|"technician"} → the fixed ground-truth row (404 when nothing to fix)
 *   GET  /ground-truth → every row;  GET /summary → counters so far
 */
import { createServer, type Server } from 'node:http';
import type { SimulationHandle } from './runner.ts';

export function startControlServer(sim: SimulationHandle, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && req.url === '/ground-truth') return send(200, sim.fleet.groundTruth());
    if (req.method === 'GET' && req.url === '/summary') return send(200, sim.stats());
    if (req.method === 'POST' && req.url === '/remedy') {
      let text = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (text += c.length + text.length < 65_536 ? c : ''));
      req.on('end', () => {
        let body: { device?: unknown; fault?: unknown; by?: unknown };
        try {
          body = JSON.parse(text) as typeof body;
        } catch {
          return send(400, { message: 'body must be JSON' });
        }
        const by = body.by ?? 'owner';
        if (typeof body.device !== 'string' || typeof body.fault !== 'string' || (by !== 'owner' && by !== 'technician')) {
          return send(400, { message: 'expected {"device": string, "fault": string, "by"?: "owner"|"technician"}' });
        }
        sim.applyRemedy(body.device, body.fault, by).then(
          (row) => (row ? send(200, row) : send(404, { message: 'no such active fault, or it needs another remedy' })),
          (err: Error) => send(500, { message: err.message }),
        );
      });
      return;
    }
    send(404, { message: 'not found' });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
