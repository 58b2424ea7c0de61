import { describe, expect, it } from "vitest";
import { renderMarkdown } from "../../src/matrix/markdown.ts";

const html = (md: string, mentions?: string[]) => renderMarkdown(md, mentions).formatted_body;

describe("renderMarkdown", () => {
  it("sends plain text without HTML", () => {
    expect(renderMarkdown("pong")).toEqual({ body: "pong" });
    expect(renderMarkdown("two\nlines")).toEqual({ body: "two\nlines" });
  });

  it("keeps the markdown source as the plain-text body", () => {
    const r = renderMarkdown("**bold** and `code`");
    expect(r.body).toBe("**bold** and `code`");
    expect(r.format).toBe("org.matrix.custom.html");
    expect(r.formatted_body).toBe("<p><strong>bold</strong> and <code>code</code></p>");
  });

  it("turns headings into bold paragraphs (Element X has no headings)", () => {
    expect(html("# Title")).toBe("<p><strong>Title</strong></p>");
  });

  it("renders tables as aligned monospace text", () => {
    expect(html("| a | bb |\n|---|---|\n| 1 | 2 |")).toBe("<pre><code>a | bb\n--|---\n1 | 2</code></pre>");
  });

  it("renders a table of 200,000 rows without overflowing the stack", () => {
    const md = `| n |\n|---|\n${"| 1 |\n".repeat(200_000)}`;
    expect(html(md)!.startsWith("<pre><code>n\n-\n1\n1")).toBe(true);
  });

  it("keeps code blocks with their language class and escapes them", () => {
    expect(html("```ts\nif (a < b) {}\n```")).toBe('<pre><code class="language-ts">if (a &lt; b) {}\n</code></pre>');
  });

  it("shows raw HTML as text and never passes script or handlers through", () => {
    const out = html('hi <script>alert(1)</script> <img src=x onerror="y">')!;
    expect(out).not.toMatch(/<script|<img|<[^>]*onerror/);
    expect(out).toContain("&lt;script&gt;");
  });

  it("drops javascript: links but keeps their text", () => {
    const out = html("[click](javascript:alert(1)) and [ok](https://example.org)")!;
    expect(out).not.toContain("javascript:");
    expect(out).toContain('<a href="https://example.org">ok</a>');
  });

  it("allows only the tags Element X renders", () => {
    const out = html("# h\n\n> quote\n\n1. one\n2. two\n\n- [x] done\n\n~~gone~~ *em*\n\n---\n\n![alt](https://x.org/i.png)")!;
    const tags = new Set([...out.matchAll(/<\/?([a-z0-9]+)/g)].map((m) => m[1]));
    const allowed = new Set(["a", "b", "strong", "i", "em", "u", "del", "code", "ul", "ol", "li", "pre", "blockquote", "p", "br"]);
    for (const t of tags) expect(allowed.has(t!), `tag <${t}>`).toBe(true);
    expect(out).toContain('<a href="https://x.org/i.png">alt</a>');
    expect(out).toContain("☑ done");
  });

  it("makes mentioned user ids pills, outside code only", () => {
    expect(html("hi @alice:example.org, not `@alice:example.org`", ["@alice:example.org"])).toBe(
      '<p>hi <a href="https://matrix.to/#/@alice:example.org">@alice:example.org</a>, not <code>@alice:example.org</code></p>',
    );
  });

  it("puts mentions the text lacks in front", () => {
    const r = renderMarkdown("please approve", ["@bob:example.org"]);
    expect(r.body).toBe("@bob:example.org\n\nplease approve");
    expect(r.formatted_body).toBe('<p><a href="https://matrix.to/#/@bob:example.org">@bob:example.org</a></p>\n<p>please approve</p>');
  });
});
