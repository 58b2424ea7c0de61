// The CLI's command table: each entry loads its module only when used, so `policy check`
// never pays for matrix-js-sdk. A handler returns the process exit code.
export type CliHandler = (args: string[]) => Promise<number>;

const commands: Record<string, { summary: string; load: () => Promise<CliHandler> }> = {
  audit: { summary: "verify, export or tail the audit chain", load: async () => (await import("./audit-command.ts")).auditCommand },
  doctor: { summary: "check the configuration and the homeserver", load: async () => (await import("./doctor-command.ts")).doctorCommand },
  policy: { summary: "check a command against the policy, or lint the policy", load: async () => (await import("./policy-command.ts")).run },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return ["usage: pocketcoder <command> [options]", "", "commands:", ...lines].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return name ? 0 : 2;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) {
    console.error(`pocketcoder: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const handler = await command.load();
  return handler(rest);
}
