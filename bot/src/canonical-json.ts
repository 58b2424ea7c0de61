// One byte-exact JSON text per value, so a hash over it means the same thing everywhere: object
// keys sorted by UTF-16 code units (as RFC 8785 sorts them), no whitespace, strings and numbers as
// JSON.stringify writes them. Only plain JSON values are accepted; anything else is a bug upstream.
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export class CanonicalJsonError extends Error {
  override name = "CanonicalJsonError";
}

/** Where in the value an encoding failed; built only when one does, since every audit entry is encoded on the decision path. */
class Refusal {
  readonly path: (string | number)[] = [];
  constructor(readonly what: string) {}
}

export function canonicalJson(value: unknown): string {
  try {
    return encode(value);
  } catch (e) {
    if (!(e instanceof Refusal)) throw e;
    const path = e.path.reverse().reduce<string>((p, k) => (typeof k === "number" ? `${p}[${k}]` : `${p}.${k}`), "$");
    throw new CanonicalJsonError(`${path}: ${e.what}`);
  }
}

function encode(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isFinite(value)) throw new Refusal(`${value} is not a finite number`);
      return JSON.stringify(value);
    case "string":
      return JSON.stringify(value);
    case "object":
      return Array.isArray(value) ? encodeArray(value) : encodeObject(value as Record<string, unknown>);
    default:
      throw new Refusal(`${typeof value} values cannot be encoded as JSON`);
  }
}

function encodeArray(items: unknown[]): string {
  let out = "[";
  for (let i = 0; i < items.length; i++) {
    if (i > 0) out += ",";
    try {
      out += encode(items[i]);
    } catch (e) {
      throw located(e, i);
    }
  }
  return `${out}]`;
}

function encodeObject(obj: Record<string, unknown>): string {
  const proto = Object.getPrototypeOf(obj);
  if (proto !== Object.prototype && proto !== null) throw new Refusal("only plain objects can be encoded");
  let out = "{";
  // Undefined members are left out, as JSON.stringify does, so optional fields need no special care.
  for (const key of Object.keys(obj).sort()) {
    const member = obj[key];
    if (member === undefined) continue;
    if (out.length > 1) out += ",";
    try {
      out += `${JSON.stringify(key)}:${encode(member)}`;
    } catch (e) {
      throw located(e, key);
    }
  }
  return `${out}}`;
}

function located(e: unknown, key: string | number): unknown {
  if (e instanceof Refusal) e.path.push(key);
  return e;
}
