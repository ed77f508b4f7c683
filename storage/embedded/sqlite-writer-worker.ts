/**
 * Worker thread of the embedded telemetry store: owns the write connection
 * and runs each batch as one transaction off the main event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Point } from '../../core/domain/telemetry.ts';
import { openDatabase, prepareWrites, writePoints } from './sqlite-schema.ts';

const db = openDatabase((workerData as { file: string }).file);
const stmts = prepareWrites(db);
const port = parentPort!;

port.on('message', (msg: { id: number; points?: Point[]; close?: true }) => {
  if (msg.close) {
    db.close();
    port.postMessage({ id: msg.id, ok: true });
    port.close();
    return;
  }
  try {
    writePoints(db, stmts, msg.points ?? []);
    port.postMessage({ id: msg.id, ok: true });
  } catch (err) {
    port.postMessage({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) });
  }
});
port.postMessage({ id: 0, ok: true });
