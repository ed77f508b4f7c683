import type { Client } from 'aedes';
import type { Principal } from '../core/ports.ts';

/** Authenticated identity per MQTT client, kept off the Aedes client object. */
export class Principals {
  readonly #byClient = new WeakMap<Client, Principal>();
  readonly #emptyClientId = new WeakSet<Client>();

  set(client: Client, p: Principal): void {
    this.#byClient.set(client, p);
  }

  get(client: Client | null | undefined): Principal | undefined {
    return client ? this.#byClient.get(client) : undefined;
  }

  markEmptyClientId(client: Client): void {
    this.#emptyClientId.add(client);
  }

  hadEmptyClientId(client: Client): boolean {
    return this.#emptyClientId.has(client);
  }
}
