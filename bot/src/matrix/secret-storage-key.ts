// The secret-storage (4S) key, a.k.a. the recovery key: created once by bootstrap, kept in a 0600
// file, and handed to the SDK whenever it needs to read or write secret storage.
import { decodeRecoveryKey, type CryptoCallbacks, type GeneratedSecretStorageKey } from "matrix-js-sdk/lib/crypto-api/index.js";
import type { MatrixClient } from "matrix-js-sdk";
import { readSecretFile, writeSecretFile } from "./secret-files.ts";

export interface SecretStorageKeyFile {
  path: string;
  /** The callbacks for createClient; `attach` must be called with the client before they are used. */
  callbacks: CryptoCallbacks;
  attach(client: MatrixClient): void;
  /** Stores a newly created key; returns it for bootstrapSecretStorage. */
  save(key: GeneratedSecretStorageKey): GeneratedSecretStorageKey;
}

export function secretStorageKeyFile(path: string): SecretStorageKeyFile {
  let client: MatrixClient | null = null;
  const callbacks: CryptoCallbacks = {
    getSecretStorageKey: async ({ keys }) => {
      const encoded = readSecretFile(path);
      if (encoded === null || client === null) return null;
      const privateKey = decodeRecoveryKey(encoded.trim());
      // Offer our key only for a key id it really opens.
      for (const [keyId, info] of Object.entries(keys)) {
        if (await client.secretStorage.checkKey(privateKey, info)) return [keyId, privateKey];
      }
      return null;
    },
  };
  return {
    path,
    callbacks,
    attach: (c) => {
      client = c;
    },
    save: (key) => {
      if (!key.encodedPrivateKey) throw new Error("the new secret storage key has no encoded form to save");
      writeSecretFile(path, key.encodedPrivateKey + "\n");
      return key;
    },
  };
}
