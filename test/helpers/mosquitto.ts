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
