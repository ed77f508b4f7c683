import { execFile, spawn } from 'node:child_process';

/** Runs Debian's mosquitto_pub (an MQTT client we did not write). */
export function mosquittoPub(args: { port: number; id: string; secret: string; topic: string; message: string; qos?: 0 | 1 }): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'mosquitto_pub',
      ['-h', '127.0.0.1', '-p', String(args.port), '-i', args.id, '-u', args.id, '-P', args.secret, '-t', args.topic, '-m', args.message, '-q', String(args.qos ?? 1), '-V', 'mqttv311'],
      { timeout: 10_000 },
      (err, _stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
    );
  });
}

/** mosquitto_pub -l: one message per line of `lines`, on one connection (QoS 1, each acknowledged before the next). */
export function mosquittoPubLines(args: { port: number; id: string; secret: string; topic: string; lines: readonly string[] }): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(args.port), '-i', args.id, '-u', args.id, '-P', args.secret, '-t', args.topic, '-l', '-q', '1', '-V', 'mqttv311']);
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill(), 30_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stderr });
    });
    p.stdin.end(args.lines.join('\n') + '\n');
  });
}

/** Starts mosquitto_sub and collects the messages it prints (topic + payload per line). */
export function mosquittoSub(args: { port: number; username: string; password: string; topic: string; id?: string }) {
  const proc = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(args.port), '-u', args.username, '-P', args.password, '-t', args.topic, '-v', '-q', '1', '-V', 'mqttv311', ...(args.id ? ['-i', args.id] : [])]);
  const lines: string[] = [];
  let buf = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    lines.push(...parts);
  });
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return { lines, stderr: () => stderr, stop: () => proc.kill('SIGTERM') };
}
