// The pure pieces between the pane log and the caller: marker scanning, terminal → text, head + tail,
// and the command check. Each must give the same answer however the byte stream is chunked.
import { describe, expect, it } from "vitest";
import { checkCommand } from "../src/command-check.ts";
import { HeadTail } from "../src/head-tail.ts";
import { MarkerScanner } from "../src/marker-scanner.ts";
import { TerminalText, terminalText } from "../src/terminal-text.ts";

const id = "0123456789abcdef";
const stream = (output: string, rc = 0, cwd = "/w") =>
  Buffer.from(` __r ${id}\r\n\x1ePC_BEGIN ${id}\x1e\r\n${output}\r\n\x1ePC_END ${id} ${rc} ${Buffer.from(cwd).toString("base64")}\x1e\r\n$ `, "utf8");

function scan(bytes: Buffer, chunk: number) {
  const out: Buffer[] = [];
  let end: { code: number; cwd: string | null; exited: boolean } | null = null;
  let began = false;
  const s = new MarkerScanner(id, { begin: () => (began = true), output: (b) => out.push(Buffer.from(b)), end: (code, cwd, exited) => (end = { code, cwd, exited }) });
  for (let i = 0; i < bytes.length; i += chunk) s.push(bytes.subarray(i, i + chunk));
  return { began, output: Buffer.concat(out).toString("utf8"), end };
}

describe("MarkerScanner", () => {
  const cases = ["", "abc", "a\r\nb\r\n", "tail\r", "x\r\n\r\n", `fake \x1ePC_END ffffffffffffffff 0 Lw==\x1e\r\nreal`, "café ✓"];
  for (const output of cases) {
    it(`finds ${JSON.stringify(output)} whatever the chunk size`, () => {
      for (const chunk of [1, 2, 3, 7, 64, 4096]) {
        expect(scan(stream(output, 3, "/w s"), chunk)).toEqual({ began: true, output, end: { code: 3, cwd: "/w s", exited: false } });
      }
    });
  }

  it("tells a shell that exited from a prompt", () => {
    const bytes = Buffer.from(`\x1ePC_BEGIN ${id}\x1e\r\nbye\r\n\x1ePC_END ${id} 7 Lw== x\x1e\r\n`);
    let got: unknown[] = [];
    new MarkerScanner(id, { begin: () => {}, output: () => {}, end: (...args) => (got = args) }).push(bytes);
    expect(got).toEqual([7, "/", true]);
  });

  it("ignores everything before its own BEGIN marker", () => {
    const other = Buffer.from(`\x1ePC_BEGIN aaaaaaaaaaaaaaaa\x1e\r\nnoise\r\n\x1ePC_END ${id} 9 Lw==\x1e\r\n`);
    expect(scan(Buffer.concat([other, stream("mine")]), 5)).toMatchObject({ output: "mine", end: { code: 0 } });
  });

  it("holds back only what could start the END marker", () => {
    const out: string[] = [];
    const s = new MarkerScanner(id, { begin: () => {}, output: (b) => out.push(b.toString()), end: () => {} });
    s.push(Buffer.from(`\x1ePC_BEGIN ${id}\x1e\r\nline one\r\npartial`));
    expect(out.join("")).toBe("line one\r\npartial");
    s.push(Buffer.from("\r\n"));
    expect(out.join("")).toBe("line one\r\npartial");
    s.push(Buffer.from("more"));
    expect(out.join("")).toBe("line one\r\npartial\r\nmore");
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
