// Resolves on the first sync that came from the server rather than the saved cache: the cached
// one can carry stale account data, so nothing is decided before this (notes/matrix-e2ee.md §5).
import { ClientEvent, HttpApiEvent, type MatrixClient, type MatrixError, SyncState, type SyncStateData } from "matrix-js-sdk";

export function waitForLiveSync(client: MatrixClient, onError: (e: Error) => void = () => {}): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const cleanup = () => {
      client.off(ClientEvent.Sync, onSync);
      client.off(HttpApiEvent.SessionLoggedOut, onLoggedOut);
    };
    const onSync = (state: SyncState, _prev: SyncState | null, data?: SyncStateData) => {
      if ((state === SyncState.Prepared || state === SyncState.Syncing) && !data?.fromCache) {
        cleanup();
        resolve();
      } else if (state === SyncState.Error && data?.error) {
        onError(data.error);
      }
    };
    const onLoggedOut = (err: MatrixError) => {
      cleanup();
      reject(new Error(`the homeserver rejected the saved access token (${err.errcode ?? err.message})`));
    };
    client.on(ClientEvent.Sync, onSync);
    client.on(HttpApiEvent.SessionLoggedOut, onLoggedOut);
  });
}
