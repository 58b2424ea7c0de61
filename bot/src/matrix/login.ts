// The one password login, on the very first start. Every later start reuses the saved session:
// a login would create a new device with new keys (notes/matrix-e2ee.md §6).
import { createClient } from "matrix-js-sdk";
import type { Logger as SdkLogger } from "matrix-js-sdk/lib/logger.js";
import type { Session } from "./session-store.ts";

export interface LoginOptions {
  homeserverUrl: string;
  userId: string;
  password: string;
  deviceName: string;
  logger: SdkLogger;
}

export async function passwordLogin(opts: LoginOptions): Promise<Session> {
  const client = createClient({ baseUrl: opts.homeserverUrl, logger: opts.logger });
  const res = await client.loginRequest({
    type: "m.login.password",
    identifier: { type: "m.id.user", user: opts.userId },
    password: opts.password,
    initial_device_display_name: opts.deviceName,
  });
  if (res.user_id !== opts.userId) {
    throw new Error(`logged in as ${res.user_id}, but the configured user id is ${opts.userId}`);
  }
  return { userId: res.user_id, deviceId: res.device_id, accessToken: res.access_token };
}
