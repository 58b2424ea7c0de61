// matrix-js-sdk logs a great deal at debug and info through `loglevel`, and the Rust crypto turns
// its own tracing on at DEBUG. The bot keeps only warnings and errors, as structured lines.
import { Tracing, LoggerLevel } from "@matrix-org/matrix-sdk-crypto-wasm";
import type { Logger as SdkLogger } from "matrix-js-sdk/lib/logger.js";
import { logger as sdkGlobalLogger } from "matrix-js-sdk/lib/logger.js";
import type { Logger } from "../log.ts";

function text(args: unknown[]): string {
  const joined = args.map((a) => (a instanceof Error ? a.message : typeof a === "string" ? a : safeJson(a))).join(" ");
  return joined.length > 500 ? joined.slice(0, 500) + "…" : joined;
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Warnings on every start that say nothing actionable (the SDK filling in newer default push rules). */
const routine = /^Adding default global (override|underride) push rule/;

/** A js-sdk Logger that forwards warnings and errors to ours and drops the rest. */
export function sdkLoggerFor(log: Logger, namespace = "sdk"): SdkLogger {
  const drop = () => {};
  return {
    trace: drop,
    debug: drop,
    info: drop,
    warn: (...args: unknown[]) => {
      const message = text(args);
      if (!routine.test(message)) log.warn(message, { source: namespace });
    },
    error: (...args: unknown[]) => log.error(text(args), { source: namespace }),
    getChild: (child: string) => sdkLoggerFor(log, `${namespace}${child}`),
  };
}

interface LoglevelLogger {
  methodFactory: (method: string) => (...args: unknown[]) => void;
  setLevel(level: string): void;
  /** Re-applies the factory, to child loggers made earlier too. */
  rebuild(): void;
}

/** Routes the js-sdk's global (module-level) logger to ours at warn level. Call before creating a client. */
export function quietSdkGlobalLogger(log: Logger): void {
  const target = sdkLoggerFor(log, "sdk-global");
  const ll = sdkGlobalLogger as unknown as LoglevelLogger;
  ll.methodFactory = (method) => (method === "error" ? target.error : target.warn);
  ll.setLevel("warn");
  ll.rebuild();
}

/** Rust tracing back to warnings only; `initRustCrypto` switched it on at DEBUG. */
export function quietRustTracing(): void {
  new Tracing(LoggerLevel.Warn).turnOn();
}
