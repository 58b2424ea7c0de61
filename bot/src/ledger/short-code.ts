// The code people type in `!approve CODE`. The alphabet leaves out 0/O, 1/I/L and U/V so a code
// read off a phone screen is typed correctly; 29^6 ≈ 595 million codes keep clashes rare, and the
// schema keeps codes unique among pending requests.
import { randomInt } from "node:crypto";

export const codeAlphabet = "ABCDEFGHJKMNPQRSTWXYZ23456789";
export const codeLength = 6;

export function generateCode(): string {
  let code = "";
  for (let i = 0; i < codeLength; i++) code += codeAlphabet[randomInt(codeAlphabet.length)];
  return code;
}

/** What a person typed, made comparable: case and surrounding space ignored. */
export function normalizeCode(typed: string): string {
  return typed.trim().toUpperCase();
}
