/**
 * Where the handles that keep a finished process alive were made. With KLINESTREAM_DEBUG_OPEN_HANDLES=1
 * an async hook notes the creation stack of every socket and timer (a diagnostic: it costs a stack trace
 * per handle, so it is off by default); the CLI's exit grace then prints the stacks of those still open.
 */
import { createHook } from 'node:async_hooks';

const TRACKED = new Set(['TCPWRAP', 'TCPCONNECTWRAP', 'Timeout', 'PIPEWRAP', 'TLSWRAP']);

export interface OpenHandleTracker {
  /** Creation stacks of the tracked handles still alive, oldest first. */
  open(): string[];
}

export function trackOpenHandles(): OpenHandleTracker {
  const made = new Map<number, { type: string; stack: string; resource: object }>();
  createHook({
    init(asyncId, type, _trigger, resource) {
      if (!TRACKED.has(type)) return;
      const stack = (new Error().stack ?? '').split('\n').slice(2, 14).join('\n');
      made.set(asyncId, { type, stack, resource: resource as object });
    },
    destroy(asyncId) {
      made.delete(asyncId);
    },
  }).enable();
  return {
    open: () => [...made.values()]
      // A timer that was cleared or fired, or an unref'd one, keeps nothing alive.
      .filter((h) => h.type !== 'Timeout' || ((h.resource as { hasRef?: () => boolean }).hasRef?.() ?? true))
      .map((h) => `${h.type}\n${h.stack}`),
  };
}
