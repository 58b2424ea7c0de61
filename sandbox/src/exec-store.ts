// One small JSON file per started command: written before the command is typed, rewritten with the
// result when it ends. After a restart the runner re-reads the running ones and follows them to the
// end; finished ones answer late or reconnecting callers until the retention period passes.
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { ExecResult } from "./protocol.ts";
import { readJson, writeJsonAtomic } from "./state-files.ts";

export const ExecRecord = z.object({
  execId: z.string(),
  session: z.string(),
  callId: z.string(),
  sha256: z.string(),
  cwd: z.string(),
  timeoutMs: z.number(),
  startedByBot: z.boolean().optional(),
  tmuxSession: z.string(),
  paneId: z.string(),
  paneLog: z.string(),
  /** Byte offset in the pane log where the search for this command's markers starts. */
  logStart: z.number(),
  /** The output file the shell appends to while the command runs, in the spool the sandbox can write to. */
  outPath: z.string(),
  /**
   * Output bytes the runner had consumed (hashed, streamed, shown in the pane) when it last saved the
   * record. A restarted runner reads the file from 0 again (a hash cannot be resumed) but shows the
   * pane only what comes after this.
   */
  outConsumed: z.number(),
  /** Where the output file is moved when the command ends, out of the sandbox's reach: the full log. */
  logPath: z.string(),
  startedAt: z.string(),
  deadline: z.number(),
  timedOut: z.boolean(),
  cancelledBy: z.string().nullable(),
  result: ExecResult.nullable(),
});
export type ExecRecord = z.infer<typeof ExecRecord>;

export class ExecStore {
  private records = new Map<string, ExecRecord>();
  private byCall = new Map<string, string>();

  constructor(
    private readonly dir: string,
    private readonly retentionMs: number,
  ) {
    mkdirSync(dir, { recursive: true });
    for (const f of readdirSync(dir).filter((n) => n.endsWith(".json"))) {
      const parsed = ExecRecord.safeParse(readJson(join(dir, f)));
      if (parsed.success) this.index(parsed.data);
    }
    this.prune();
  }

  save(record: ExecRecord): void {
    writeJsonAtomic(join(this.dir, `${record.execId}.json`), record);
    this.index(record);
  }

  get(execId: string): ExecRecord | undefined {
    return this.records.get(execId);
  }

  forCall(session: string, callId: string): ExecRecord | undefined {
    const id = this.byCall.get(`${session}\n${callId}`);
    return id ? this.records.get(id) : undefined;
  }

  running(): ExecRecord[] {
    return [...this.records.values()].filter((r) => r.result === null);
  }

  /** Forgets finished records (and their output logs) older than the retention period. */
  prune(now = Date.now()): void {
    for (const r of this.records.values()) {
      if (r.result && Date.parse(r.result.finishedAt) + this.retentionMs < now) {
        rmSync(join(this.dir, `${r.execId}.json`), { force: true });
        rmSync(r.logPath, { force: true });
        rmSync(r.outPath, { force: true });
        this.records.delete(r.execId);
        this.byCall.delete(`${r.session}\n${r.callId}`);
      }
    }
  }

  private index(r: ExecRecord): void {
    this.records.set(r.execId, r);
    this.byCall.set(`${r.session}\n${r.callId}`, r.execId);
  }
}
