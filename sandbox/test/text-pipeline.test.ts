// The pure pieces between the files the runner follows and the caller: marker scanning of the pane
// log, terminal bytes → text, head + tail, and the command check. Each must give the same answer
// however the byte stream is chunked.
import { describe, expect, it } from "vitest";
import { checkCommand } from "../src/command-check.ts";
import { encodeFrame, FrameDecoder } from "../src/frames.ts";
import { HeadTail } from "../src/head-tail.ts";
import { MarkerScanner } from "../src/marker-scanner.ts";
import { TerminalText, terminalText } from "../src/terminal-text.ts";

const id = "0123456789abcdef";
/** The pane log of one command as the shell prints it, with `display` (the runner's copy of the output) between the markers. */
const stream = (display: string, rc = 0, cwd = "/w") =>
  Buffer.from(
    ` __r ${id}\r\n\x1b[?2004l\r\x1ePC_BEGIN ${id}\x1e\r\x1b[K${display}\x1b7\x1ePC_END ${id} ${rc} ${Buffer.from(cwd).toString("base64")}\x1e\x1b8\x1b[J\x1b[?2004h~ $ `,
    "utf8",
  );

function scan(bytes: Buffer, chunk: number) {
  let end: { code: number; cwd: string | null; exited: boolean } | null = null;
  let began = false;
  const s = new MarkerScanner(id, { begin: () => (began = true), end: (code, cwd, exited) => (end = { code, cwd, exited }) });
  for (let i = 0; i < bytes.length; i += chunk) s.push(bytes.subarray(i, i + chunk));
  return { began, end };
}

describe("MarkerScanner", () => {
  const displays = ["", "abc", "a\r\nb\r\n", "tail\r", `fake PC_END ${id} 9 Lw==\r\n`, `\x1ePC_END ffffffffffffffff 0 Lw==\x1e\r\n`, "café ✓"];
  for (const display of displays) {
    it(`finds the markers around ${JSON.stringify(display)} whatever the chunk size`, () => {
      for (const chunk of [1, 2, 3, 7, 64, 4096]) {
        expect(scan(stream(display, 3, "/w s"), chunk)).toEqual({ began: true, end: { code: 3, cwd: "/w s", exited: false } });
      }
    });
  }

  it("tells a shell that exited from a prompt", () => {
    const bytes = Buffer.from(`\x1ePC_BEGIN ${id}\x1e\r\x1b[Kbye\r\n\x1ePC_END ${id} 7 Lw== x\x1e`);
    let got: unknown[] = [];
    new MarkerScanner(id, { begin: () => {}, end: (...args) => (got = args) }).push(bytes);
    expect(got).toEqual([7, "/", true]);
  });

  it("ignores everything before its own BEGIN marker", () => {
    const other = Buffer.from(`\x1ePC_BEGIN aaaaaaaaaaaaaaaa\x1e\r\nnoise\r\n\x1ePC_END ${id} 9 Lw==\x1e\r\n`);
    expect(scan(Buffer.concat([other, stream("mine")]), 5)).toMatchObject({ began: true, end: { code: 0 } });
  });

  it("does not take a malformed END marker, and waits for one that has not fully arrived", () => {
    let end: number | null = null;
    const s = new MarkerScanner(id, { begin: () => {}, end: (code) => (end = code) });
    s.push(Buffer.from(`\x1ePC_BEGIN ${id}\x1e\x1ePC_END ${id} 1x Lw==\x1e \x1ePC_END ${id} 4`));
    expect(end).toBeNull();
    s.push(Buffer.from("2 Lw==\x1e"));
    expect(end).toBe(42);
  });
});

describe("TerminalText", () => {
  const raw = Buffer.from("\x1b[1;31mred\x1b[0m\r\n\x1b]0;title\x07ok\x1b[?2004h\r\nbar\r50%\r\n\x1bP1$r\x1b\\end\x07\r\n", "utf8");
  const want = "red\nok\nbar\r50%\nend\n";

  it("turns CRLF into LF and drops escape sequences and bells", () => {
    expect(terminalText(raw)).toBe(want);
  });

  it("gives the same text whatever the chunking", () => {
    for (const chunk of [1, 2, 5, 13]) {
      const t = new TerminalText();
      const parts: Buffer[] = [];
      for (let i = 0; i < raw.length; i += chunk) parts.push(t.push(raw.subarray(i, i + chunk)));
      parts.push(t.end());
      expect(Buffer.concat(parts).toString()).toBe(want);
    }
  });

  it("hands back a chunk with nothing to change as it is, and finds a control byte wherever it sits", () => {
    const plain = Buffer.from("plain text\twith tabs\nand lines, café\n");
    expect(new TerminalText().push(plain)).toBe(plain);
    for (let at = 0; at <= 9; at++) {
      const bytes = Buffer.from("abcdefghij");
      bytes[at] = 0x01;
      expect(terminalText(bytes)).toBe("abcdefghij".slice(0, at) + "abcdefghij".slice(at + 1));
    }
  });

  it("keeps a lone trailing CR until the end", () => {
    const t = new TerminalText();
    expect(t.push(Buffer.from("a\r")).toString()).toBe("a");
    expect(t.end().toString()).toBe("\r");
  });
});

describe("HeadTail", () => {
  it("keeps short output whole", () => {
    const h = new HeadTail(10);
    h.push(Buffer.from("hello"));
    h.push(Buffer.from("world"));
    expect(h.text()).toEqual({ truncated: false, head: "helloworld", tail: "", omittedBytes: 0 });
  });

  it("keeps head and tail of long output, in any chunking", () => {
    const text = Array.from({ length: 1000 }, (_, i) => `${i}`).join(",");
    for (const chunk of [1, 7, 100, 5000]) {
      const h = new HeadTail(100);
      for (let i = 0; i < text.length; i += chunk) h.push(Buffer.from(text.slice(i, i + chunk)));
      const r = h.text();
      expect(r.head).toBe(text.slice(0, 50));
      expect(r.tail).toBe(text.slice(-50));
      expect(r.omittedBytes).toBe(text.length - 100);
    }
  });

  it("never cuts a UTF-8 character in half", () => {
    const h = new HeadTail(9);
    h.push(Buffer.from("ééééééééééé"));
    const r = h.text();
    expect(r.head).toBe("éé");
    expect(r.tail).toBe("éé");
    expect(r.omittedBytes).toBe(22 - 8);
  });
});

describe("FrameDecoder", () => {
  it("gives back the frames whatever the chunking", () => {
    const frames = [encodeFrame(0x73, "{}"), encodeFrame(0x6f, Buffer.alloc(300_000, 0x61)), encodeFrame(0x6f, ""), encodeFrame(0x72, "end")];
    const stream = Buffer.concat(frames);
    for (const chunk of [1, 4, 5, 6, 4096, 65_536, stream.length]) {
      const d = new FrameDecoder();
      const got: { type: number; payload: Buffer }[] = [];
      for (let i = 0; i < stream.length; i += chunk) got.push(...d.push(stream.subarray(i, i + chunk)));
      expect(got.map((f) => [f.type, f.payload.length])).toEqual([[0x73, 2], [0x6f, 300_000], [0x6f, 0], [0x72, 3]]);
      expect(got[1]!.payload.equals(Buffer.alloc(300_000, 0x61))).toBe(true);
      expect(got[3]!.payload.toString()).toBe("end");
    }
  });
});

describe("checkCommand", () => {
  it("accepts tabs, newlines and unicode text", () => {
    expect(checkCommand("printf 'a\\tb'\necho café ✓")).toBeNull();
  });
  it("names the first forbidden character and where it is", () => {
    expect(checkCommand("echo a\x1b[201~")).toBe("command contains the control or bidi character U+001B at character 6; only tab and newline are allowed");
    expect(checkCommand("echo \u2067x")).toMatch(/U\+2067/);
  });
  it("measures the limit in UTF-8 bytes", () => {
    expect(checkCommand("é".repeat(8192))).toBeNull();
    expect(checkCommand("é".repeat(8193))).toMatch(/16386 bytes/);
  });
});
