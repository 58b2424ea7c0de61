// One byte-exact JSON text per value, so a hash over it means the same thing everywhere: object
// keys sorted by UTF-16 code units (as RFC 8785 sorts them), no whitespace, strings and numbers as
// JSON.stringify writes them. Only plain JSON values are accepted; anything else is a bug upstream.
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export class CanonicalJsonError extends Error {
  override name = "CanonicalJsonError";
}

export function canonicalJson(value: unknown): string {
  return encode(value, "$");
}

function encode(value: unknown, path: string): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isFinite(value)) throw new CanonicalJsonError(`${path}: ${value} is not a finite number`);
      return JSON.stringify(value);
    case "string":
      return JSON.stringify(value);
    case "object":
      return Array.isArray(value) ? encodeArray(value, path) : encodeObject(value as Record<string, unknown>, path);
    default:
      throw new CanonicalJsonError(`${path}: ${typeof value} values cannot be encoded as JSON`);
  }
}

function encodeArray(items: unknown[], path: string): string {
  return `[${items.map((item, i) => encode(item, `${path}[${i}]`)).join(",")}]`;
}

function encodeObject(obj: Record<string, unknown>, path: string): string {
  const proto = Object.getPrototypeOf(obj);
  if (proto !== Object.prototype && proto !== null) throw new CanonicalJsonError(`${path}: only plain objects can be encoded`);
  const parts: string[] = [];
  // Undefined members are left out, as JSON.stringify does, so optional fields need no special care.
  for (const key of Object.keys(obj).sort()) {
    const member = obj[key];
    if (member === undefined) continue;
    parts.push(`${JSON.stringify(key)}:${encode(member, `${path}.${key}`)}`);
  }
  return `{${parts.join(",")}}`;
}
