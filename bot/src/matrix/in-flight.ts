// Tracks running event handlers so shutdown can wait for them, and so one failing handler is
// logged instead of becoming an unhandled rejection that kills the process.
import type { Logger } from "../log.ts";

export interface InFlight {
  /** Starts `work` unless shutdown began; returns false if it was refused. */
  run(label: string, work: () => Promise<void>): boolean;
  /** Refuses new work, then waits up to `deadlineMs` for running work; true if all finished. */
  drain(deadlineMs: number): Promise<boolean>;
  readonly size: number;
}

export function createInFlight(log: Logger): InFlight {
  const running = new Set<Promise<void>>();
  let accepting = true;
  return {
    run(label, work) {
      if (!accepting) return false;
      const p: Promise<void> = Promise.resolve()
        .then(work)
        .catch((e: unknown) => log.error("handler failed", { handler: label, error: e }))
        .finally(() => running.delete(p));
      running.add(p);
      return true;
    },
    async drain(deadlineMs) {
      accepting = false;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<false>((r) => {
        timer = setTimeout(() => r(false), deadlineMs);
      });
      const done = (async () => {
        while (running.size > 0) await Promise.allSettled([...running]);
        return true as const;
      })();
      const finished = await Promise.race([done, timeout]);
      clearTimeout(timer);
      return finished;
    },
    get size() {
      return running.size;
    },
  };
}
