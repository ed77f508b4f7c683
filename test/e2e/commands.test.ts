import { describe, expect, it } from 'vitest';
import { topics } from '../../core/topics.ts';
import { useStack } from '../helpers/stack.ts';

type Cmd = { id: string; status: string; detail: string | null };

describe('commands over MQTT', () => {
  it('a command sent through the API reaches the subscribed device and its acks move it to done', async () => {
    const s = await useStack();
    const { id, secret } = await s.registerDevice('air-compressor');
    const dev = await s.connectDevice(id, secret);
    await dev.subscribeAsync(topics.commands(id), { qos: 1 });
    const received = new Promise<{ commandId: string; name: string; params: Record<string, unknown>; expiresAt: string }>((resolve) =>
      dev.on('message', (topic, payload) => topic === topics.commands(id) && resolve(JSON.parse(payload.toString()))),
    );
    const sent = await s.http<Cmd>('POST', `/api/v1/devices/${id}/commands`, { name: 'purgeCondensate', params: { seconds: 5 }, expiresInS: 60 });
    expect(sent.status).toBe(201);
    expect(sent.body.status).toBe('sent');
    const msg = await received;
    expect(msg).toMatchObject({ commandId: sent.body.id, name: 'purgeCondensate', params: { seconds: 5 } });

    await dev.publishAsync(topics.commandAck(id), JSON.stringify({ commandId: msg.commandId, status: 'accepted' }), { qos: 1 });
    expect((await s.http<Cmd>('GET', `/api/v1/devices/${id}/commands/${msg.commandId}`)).body.status).toBe('accepted');
    await dev.publishAsync(topics.commandAck(id), JSON.stringify({ commandId: msg.commandId, status: 'done', detail: 'drained 0.4 l' }), { qos: 1 });
    const done = await s.http<Cmd>('GET', `/api/v1/devices/${id}/commands/${msg.commandId}`);
    expect(done.body).toMatchObject({ status: 'done', detail: 'drained 0.4 l' });
    // a late "failed" does not move a finished command
    await dev.publishAsync(topics.commandAck(id), JSON.stringify({ commandId: msg.commandId, status: 'failed' }), { qos: 1 });
    expect((await s.http<Cmd>('GET', `/api/v1/devices/${id}/commands/${msg.commandId}`)).body.status).toBe('done');
    const list = await s.http<Cmd[]>('GET', `/api/v1/devices/${id}/commands`);
    expect(list.body.map((c) => c.id)).toEqual([msg.commandId]);
  });

  it('a command nobody acknowledges expires', async () => {
    const s = await useStack();
    const { id } = await s.registerDevice('refrigerator');
    const sent = await s.http<Cmd>('POST', `/api/v1/devices/${id}/commands`, { name: 'defrost', expiresInS: 1 });
    expect(sent.status).toBe(201);
    await expect
      .poll(async () => (await s.http<Cmd>('GET', `/api/v1/devices/${id}/commands/${sent.body.id}`)).body.status, { timeout: 5000, interval: 200 })
      .toBe('expired');
  });

  it('one device cannot acknowledge another device\'s command', async () => {
    const s = await useStack();
    const a = await s.registerDevice('washing-machine');
    const b = await s.registerDevice('washing-machine');
    const sent = await s.http<Cmd>('POST', `/api/v1/devices/${a.id}/commands`, { name: 'drainCycle' });
    const cb = await s.connectDevice(b.id, b.secret);
    await cb.publishAsync(topics.commandAck(b.id), JSON.stringify({ commandId: sent.body.id, status: 'done' }), { qos: 1 });
    expect((await s.http<Cmd>('GET', `/api/v1/devices/${a.id}/commands/${sent.body.id}`)).body.status).toBe('sent');
  });
});
