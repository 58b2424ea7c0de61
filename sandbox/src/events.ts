// The runner's event stream for the bot. Every event except live output is appended to a JSON-lines
// file with a sequence number, so a bot that reconnects (or a runner that restarted) loses nothing:
// GET /v1/events?after=SEQ replays what followed SEQ from the in-memory ring loaded from that file.
import { appendFileSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import type { EventBody, RunnerEvent } from "./protocol.ts";

const ringSize = 5000;
/** The file is compacted to the ring at start when larger than this. */
const compactBytes = 8 << 20;

export type Listener = (event: RunnerEvent) => void;

export class EventLog {
  private ring: RunnerEvent[] = [];
  private nextSeq = 1;
  private listeners = new Set<Listener>();

  constructor(private readonly file: string) {
    if (!existsSync(file)) return;
    const lines = readFileSync(file, "utf8").split("\n");
    for (const line of lines) {
      if (!line) continue;
      try {
        const ev = JSON.parse(line) as RunnerEvent;
        if (typeof ev.seq === "number") this.ring.push(ev);
      } catch {
        // a line torn by a crash mid-append
      }
    }
    this.ring = this.ring.slice(-ringSize);
    this.nextSeq = (this.ring.at(-1)?.seq ?? 0) + 1;
    if (statSync(file).size > compactBytes) writeFileSync(file, this.ring.map((e) => JSON.stringify(e) + "\n").join(""));
  }

  emit(body: EventBody): RunnerEvent {
    const ephemeral = body.type === "exec.output";
    const event = { seq: ephemeral ? null : this.nextSeq++, ts: new Date().toISOString(), ...body } as RunnerEvent;
    if (!ephemeral) {
      appendFileSync(this.file, JSON.stringify(event) + "\n");
      this.ring.push(event);
      if (this.ring.length > ringSize) this.ring.shift();
    }
    for (const l of this.listeners) l(event);
    return event;
  }

  /** Persisted events with seq > after, oldest first. */
  since(after: number): RunnerEvent[] {
    return this.ring.filter((e) => e.seq !== null && e.seq > after);
  }

  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
