// One turn of a room's session (from the prompt that wakes the agent until `session.idle`): its one
// reply message, edited as the text streams (paced), who asked, and the tool parts seen so far (the
// approval engine wants the part of the call a permission is for).
import type { AgentEvent, ToolPart } from "../agent/events.ts";
import { EditPacer, type PacerClock } from "../agent/edit-pacer.ts";
import { TurnRenderer } from "../agent/turn-renderer.ts";
import type { Logger } from "../log.ts";
import type { Messenger } from "../matrix/messenger.ts";

/** Where the reply goes: into the thread of the message that started the turn, or as a reply to it. */
export type Placement = { threadRoot: string } | { replyTo: string } | Record<string, never>;

export interface TurnOptions {
  roomId: string;
  sessionId: string;
  messenger: Messenger;
  placement: Placement;
  log: Logger;
  editIntervalMs?: number;
  clock?: PacerClock;
}

export class Turn {
  private readonly renderer: TurnRenderer;
  private readonly pacer: EditPacer;
  private readonly reply: Promise<string | undefined>;
  private readonly people: string[] = [];
  private readonly tools = new Map<string, ToolPart>();
  private closing: Promise<void> | undefined;
  /** The text last handed to the pacer (at first the posted placeholder), so no edit repeats it. */
  private queued: string;
  /** When the turn began (the bot's clock): opencode stores its messages with later times. */
  readonly openedAt = Date.now();

  constructor(private readonly opts: TurnOptions) {
    this.renderer = new TurnRenderer(opts.sessionId);
    this.queued = this.renderer.render();
    // Posted at once so people see the agent took the message; edits follow as text arrives.
    this.reply = opts.messenger.sendMarkdown(opts.roomId, this.queued, opts.placement).catch((error: unknown) => {
      opts.log.error("could not post the reply message", { roomId: opts.roomId, error });
      return undefined;
    });
    this.pacer = new EditPacer(
      async (text) => {
        const id = await this.reply;
        if (id) await opts.messenger.edit(opts.roomId, id, text);
      },
      {
        ...(opts.editIntervalMs !== undefined ? { intervalMs: opts.editIntervalMs } : {}),
        ...(opts.clock ? { clock: opts.clock } : {}),
        onError: (error) => opts.log.warn("could not edit the reply message", { roomId: opts.roomId, error }),
      },
    );
  }

  /** The reply message's event id, once posted. */
  replyEventId(): Promise<string | undefined> {
    return this.reply;
  }

  /** Records a person whose message started or joined this turn. */
  addRequester(userId: string): void {
    this.people.push(userId);
  }

  /** The person whose message most recently started or joined the turn: the likeliest cause of
   * what the agent asks next, so the one the approval engine names as the requester. */
  get requester(): string | undefined {
    return this.people.at(-1);
  }

  /** Everyone else who spoke in the turn: any of them may have caused what the agent asks, so none
   * of them may approve it without self-approval. */
  get coRequesters(): string[] {
    const requester = this.requester;
    return [...new Set(this.people)].filter((u) => u !== requester);
  }

  get done(): boolean {
    return this.renderer.done;
  }

  toolPart(callID: string | undefined): ToolPart | undefined {
    return callID === undefined ? undefined : this.tools.get(callID);
  }

  /** Folds one event in; the reply is edited (paced) when its text changed. */
  apply(ev: AgentEvent): void {
    if (ev.type === "message.part.updated" && ev.properties.part.type === "tool") this.tools.set(ev.properties.part.callID, ev.properties.part);
    if (!this.renderer.apply(ev) || this.closing) return;
    const text = this.renderer.render();
    if (text === this.queued) return;
    this.queued = text;
    this.pacer.update(text);
  }

  /** Sends the complete final text (with `note` appended, e.g. why the turn was cut short). */
  finish(note?: string): Promise<void> {
    this.closing ??= this.pacer.finish(note ? `${this.renderer.render()}\n\n${note}` : this.renderer.render());
    return this.closing;
  }
}
