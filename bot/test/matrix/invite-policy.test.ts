import { describe, expect, it } from "vitest";
import { inviterAllowed, serverOf } from "../../src/matrix/invite-policy.ts";

describe("invite policy", () => {
  const policy = { allowedUsers: ["@alice:a.org"], allowedServers: ["team.org", "localhost:8448"], operator: "@op:ops.net" };

  it("allows listed users, listed servers and the operator", () => {
    expect(inviterAllowed("@alice:a.org", policy)).toBe(true);
    expect(inviterAllowed("@anyone:team.org", policy)).toBe(true);
    expect(inviterAllowed("@x:localhost:8448", policy)).toBe(true);
    expect(inviterAllowed("@op:ops.net", policy)).toBe(true);
  });

  it("refuses everyone else, including look-alike servers", () => {
    expect(inviterAllowed("@bob:a.org", policy)).toBe(false);
    expect(inviterAllowed("@x:evilteam.org", policy)).toBe(false);
    expect(inviterAllowed("@x:team.org.evil", policy)).toBe(false);
    expect(inviterAllowed("@x:localhost", policy)).toBe(false);
    expect(inviterAllowed("@op:ops.net", { allowedUsers: [], allowedServers: [] })).toBe(false);
  });

  it("takes the server as everything after the first colon", () => {
    expect(serverOf("@u:host:8448")).toBe("host:8448");
  });
});
