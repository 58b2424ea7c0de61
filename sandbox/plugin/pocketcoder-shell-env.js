// OpenCode plugin: hands the session id and the tool call id to the PocketCoder shell shim through
// the `shell.env` hook, so the runner can match the command to the bot's grant for that call.
// Load it with `"plugin": ["file:///abs/path/pocketcoder-shell-env.js"]` in the generated config.
// Every exported function is taken for a plugin by OpenCode, so this module exports only this one.
export const PocketCoderShellEnv = async () => ({
  "shell.env": async (input, output) => {
    if (input.sessionID) output.env.POCKETCODER_SESSION_ID = input.sessionID;
    if (input.callID) output.env.POCKETCODER_CALL_ID = input.callID;
  },
});
