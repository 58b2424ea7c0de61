// Cross-signing, secret storage and key backup, after the first live sync. Idempotent: a restart
// finds everything ready and changes nothing; an existing key backup is never replaced
// (`setupNewKeyBackup: true` always resets it — notes/matrix-e2ee.md §7).
import type { MatrixClient } from "matrix-js-sdk";
import type { AuthDict } from "matrix-js-sdk/lib/interactive-auth.js";
import type { Logger } from "../log.ts";
import type { SecretStorageKeyFile } from "./secret-storage-key.ts";

export interface BootstrapOptions {
  userId: string;
  /** Used only if the homeserver demands interactive auth for the cross-signing upload. */
  password: string | undefined;
  keyFile: SecretStorageKeyFile;
  log: Logger;
}

export interface BootstrapResult {
  createdCrossSigning: boolean;
  createdSecretStorage: boolean;
  createdBackup: boolean;
}

function isUiaChallenge(e: unknown): e is { httpStatus: number; data: { session?: string } } {
  const err = e as { httpStatus?: number; data?: { flows?: unknown } };
  return err?.httpStatus === 401 && err.data?.flows !== undefined;
}

export async function bootstrapCrypto(client: MatrixClient, opts: BootstrapOptions): Promise<BootstrapResult> {
  const crypto = client.getCrypto();
  if (!crypto) throw new Error("crypto is not initialised");
  const result: BootstrapResult = { createdCrossSigning: false, createdSecretStorage: false, createdBackup: false };

  if (!(await crypto.isCrossSigningReady())) {
    await crypto.bootstrapCrossSigning({
      authUploadDeviceSigningKeys: async (makeRequest) => {
        try {
          await makeRequest(null);
        } catch (e) {
          // Synapse accepts the first upload without auth; later resets need the password.
          if (!isUiaChallenge(e) || !opts.password) throw e;
          const auth: AuthDict = {
            type: "m.login.password",
            identifier: { type: "m.id.user", user: opts.userId },
            password: opts.password,
            session: e.data.session,
          };
          await makeRequest(auth);
        }
      },
    });
    result.createdCrossSigning = true;
  }

  if (!(await crypto.isSecretStorageReady())) {
    const hasBackup = (await crypto.getKeyBackupInfo()) !== null;
    await crypto.bootstrapSecretStorage({
      createSecretStorageKey: async () => {
        result.createdSecretStorage = true;
        return opts.keyFile.save(await crypto.createRecoveryKeyFromPassphrase());
      },
      setupNewKeyBackup: !hasBackup,
    });
    result.createdBackup = !hasBackup;
  }
  return result;
}
