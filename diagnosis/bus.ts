/** The typed in-process bus: raised and cleared diagnoses, emitted after they are persisted. */
import type { Logger } from '../core/logger.ts';
import type { DiagnosisBus, DiagnosisBusEvents } from '../core/ports.ts';

type Listener<E extends keyof DiagnosisBusEvents> = (payload: DiagnosisBusEvents[E]) => void;

export interface DiagnosisEmitter extends DiagnosisBus {
  emit<E extends keyof DiagnosisBusEvents>(event: E, payload: DiagnosisBusEvents[E]): void;
  clear(): void;
}

export function createDiagnosisBus(logger: Logger): DiagnosisEmitter {
  const listeners: { [E in keyof DiagnosisBusEvents]: Set<Listener<E>> } = { raised: new Set(), cleared: new Set() };
  return {
    on(event, listener) {
      const set = listeners[event] as Set<typeof listener>;
      set.add(listener);
      return () => set.delete(listener);
    },
    emit(event, payload) {
      for (const l of listeners[event] as Set<Listener<typeof event>>) {
        try {
          l(payload);
        } catch (err) {
          // a failing consumer must not stop the engine or the other consumers
          logger.error({ err, event }, 'diagnosis bus listener failed');
        }
      }
    },
    clear() {
      listeners.raised.clear();
      listeners.cleared.clear();
    },
  };
}
