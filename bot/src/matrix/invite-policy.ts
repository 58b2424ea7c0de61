// Who may bring the bot into a room: allow-listed users, anyone on an allow-listed server, and
// the operator. Everyone else is ignored without a word, so strangers learn nothing.
export interface InvitePolicy {
  allowedUsers: string[];
  allowedServers: string[];
  operator?: string | undefined;
}

/** The server part of a user id (everything after the first colon, port included). */
export function serverOf(userId: string): string {
  return userId.slice(userId.indexOf(":") + 1);
}

export function inviterAllowed(inviter: string, policy: InvitePolicy): boolean {
  if (inviter === policy.operator) return true;
  if (policy.allowedUsers.includes(inviter)) return true;
  return policy.allowedServers.includes(serverOf(inviter));
}
