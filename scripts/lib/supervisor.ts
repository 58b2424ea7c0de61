// Keeps the processes `npm start` runs: stops them in reverse start order on Ctrl-C, and stops the
// rest (exiting non-zero) when one of them ends on its own.
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";

export interface Service {
  name: string;
  /** Settles when the service ends, with how it ended ("code 1", "SIGKILL"). */
  exited: Promise<string>;
  stop(): Promise<void>;
}

export interface SpawnedService extends Service {
  child: ChildProcess;
}

/**
 * Spawns a child in its own process group, so a terminal Ctrl-C reaches only the supervisor, which
 * then stops children in order. Stop = SIGTERM, SIGKILL after `graceMs`.
 */
export function spawnService(name: string, command: string, args: string[], options: SpawnOptions, graceMs = 20_000): SpawnedService {
  const child = spawn(command, args, { ...options, detached: true });
  const exited = new Promise<string>((resolve) => {
    child.once("exit", (code, signal) => resolve(signal ?? `code ${code}`));
    child.once("error", (error) => resolve(`failed to start: ${error.message}`));
  });
  const running = () => child.exitCode === null && child.signalCode === null && child.pid !== undefined;
  // A crash of the supervisor must not leave orphans behind.
  const killOnExit = () => running() && child.kill("SIGKILL");
  process.on("exit", killOnExit);
  void exited.then(() => process.off("exit", killOnExit));
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      if (!running()) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    })();
    return stopping;
  };
  return { name, child, exited, stop };
}

export class Supervisor {
  private readonly services: Service[] = [];
  private shuttingDown = false;
  private readonly finished: Promise<number>;
  private finish!: (exitCode: number) => void;

  constructor(private readonly say: (line: string) => void) {
    this.finished = new Promise((resolve) => (this.finish = resolve));
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      process.on(signal, () => void this.shutdown(0, `${signal} received, stopping`));
    }
  }

  /** Adds a started service; if it ends while we are not shutting down, everything stops. */
  add(service: Service): void {
    this.services.push(service);
    void service.exited.then((how) => {
      if (!this.shuttingDown) void this.shutdown(1, `${service.name} stopped unexpectedly (${how}); stopping the rest`);
    });
  }

  /** Stops every service, last started first. Resolves the exit code `run()` waits for. */
  async shutdown(exitCode: number, reason: string): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.say(reason);
    for (const service of [...this.services].reverse()) {
      this.say(`stopping ${service.name}`);
      await service.stop().catch((error: unknown) => this.say(`stopping ${service.name} failed: ${(error as Error).message}`));
    }
    this.finish(exitCode);
  }

  /** Resolves with the exit code once everything has stopped. */
  done(): Promise<number> {
    return this.finished;
  }
}
