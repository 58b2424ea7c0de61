// Markdown to the HTML subset Element X renders (a, b, strong, i, em, u, del, code, ul, ol, li,
// pre, blockquote, p, br — notes/matrix-e2ee.md §11), plus the plain-text body every client
// can show. Headings become bold paragraphs, tables monospace blocks, images links; raw HTML in
// the source is shown as text, and the result is sanitised again as a second line of defence.
import { Marked, type Tokens } from "marked";
import sanitizeHtml from "sanitize-html";

export interface RenderedMessage {
  body: string;
  format?: "org.matrix.custom.html";
  formatted_body?: string;
}

const allowedTags = ["a", "b", "strong", "i", "em", "u", "del", "code", "ul", "ol", "li", "pre", "blockquote", "p", "br"];

const sanitizeOptions: sanitizeHtml.IOptions = {
  allowedTags,
  allowedAttributes: { a: ["href"], code: ["class"], ol: ["start"] },
  allowedClasses: { code: ["language-*"] },
  allowedSchemes: ["http", "https", "mailto"],
  allowProtocolRelative: false,
  disallowedTagsMode: "discard",
};

export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** A GFM table as aligned monospace text, since Element X drops table markup. */
function tableAsText(token: Tokens.Table): string {
  const rows = [token.header.map((c) => c.text), ...token.rows.map((r) => r.map((c) => c.text))];
  // Reduced, not Math.max(...cells): an agent's table of a few hundred thousand rows would overflow the stack.
  const widths = token.header.map((_, i) => rows.reduce((w, r) => Math.max(w, (r[i] ?? "").length), 0));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ").trimEnd();
  return [line(rows[0]!), widths.map((w) => "-".repeat(w)).join("-|-"), ...rows.slice(1).map(line)].join("\n");
}

const marked = new Marked({
  gfm: true,
  breaks: true,
  async: false,
  renderer: {
    heading({ tokens }) {
      return `<p><strong>${this.parser.parseInline(tokens)}</strong></p>\n`;
    },
    hr() {
      return "<p>⎯⎯⎯</p>\n";
    },
    table(token) {
      return `<pre><code>${escapeHtml(tableAsText(token))}</code></pre>\n`;
    },
    image({ href, text }) {
      return `<a href="${escapeHtml(href)}">${escapeHtml(text || href)}</a>`;
    },
    html({ text }) {
      return escapeHtml(text);
    },
    checkbox({ checked }) {
      return checked ? "☑ " : "☐ ";
    },
  },
});

/** Turns each listed user id in the HTML's text (outside links and code) into a matrix.to pill. */
function addPills(html: string, userIds: string[]): string {
  if (userIds.length === 0) return html;
  const pattern = new RegExp(userIds.map((u) => escapeHtml(u).replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")).join("|"), "g");
  let inLink = 0;
  let inCode = 0;
  return html
    .split(/(<[^>]+>)/)
    .map((part) => {
      if (part.startsWith("<")) {
        const closing = part.startsWith("</");
        if (/^<\/?a[\s>]/.test(part)) inLink += closing ? -1 : 1;
        if (/^<\/?(code|pre)[\s>]/.test(part)) inCode += closing ? -1 : 1;
        return part;
      }
      if (inLink > 0 || inCode > 0) return part;
      return part.replace(pattern, (id) => `<a href="https://matrix.to/#/${id}">${id}</a>`);
    })
    .join("");
}

/**
 * Renders `markdown`; `mentions` are user ids to show as pills. Ids that the text does not
 * contain are put in front, so a mention is always visible where it notifies.
 */
export function renderMarkdown(markdown: string, mentions: string[] = []): RenderedMessage {
  const missing = mentions.filter((m) => !markdown.includes(m));
  const source = missing.length > 0 ? `${missing.join(" ")}\n\n${markdown}` : markdown;
  const rendered = marked.parse(source) as string;
  const html = addPills(sanitizeHtml(rendered, sanitizeOptions), mentions).trim();
  const body = source.trim();
  const plainHtml = `<p>${escapeHtml(body).replace(/\n/g, "<br />")}</p>`;
  if (html.replace(/<br\s*\/?>/g, "<br />") === plainHtml) return { body };
  return { body, format: "org.matrix.custom.html", formatted_body: html };
}
