// The CPU and reference backends, calibration and the schedule search compute synchronously: in a
// worker, an abort or dispose message would wait for the whole run. Long loops await a yielder between
// steps, which lets the event loop turn at least every YIELD_MS.

const YIELD_MS = 10;

/** Resolves from the macrotask queue (not clamped like setTimeout), so that messages get handled. */
function nextTask(): Promise<void> {
  return new Promise((resolve) => {
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => {
      port1.close();
      resolve();
    };
    port2.postMessage(null);
    port2.close();
  });
}

/** Awaited between steps: resolves at once, and with a turn of the event loop once YIELD_MS have passed. */
export function yielder(): () => Promise<void> {
  let last = performance.now();
  return async () => {
    if (performance.now() - last < YIELD_MS) return;
    await nextTask();
    last = performance.now();
  };
}
