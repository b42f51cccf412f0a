/**
 * Where the SDK keeps what a device must not forget across restarts: the installation, the
 * user, a pending logout, the last launch time, and the event queue. Any string key/value
 * store will do; adapters for React Native's AsyncStorage, the web's `localStorage` and
 * memory (tests) are here.
 * @module
 */

/** An asynchronous string key/value store — the shape of React Native's AsyncStorage. */
export interface StorageAdapter {
  getItem(key: string): Promise<string | null>;
  setItem(key: string, value: string): Promise<void>;
  removeItem(key: string): Promise<void>;
}

/** The synchronous shape of the web's `localStorage` / `sessionStorage`. */
export interface SyncKeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** The part of `@react-native-async-storage/async-storage`'s default export the SDK uses. */
export interface AsyncStorageLike {
  getItem(key: string): Promise<string | null>;
  setItem(key: string, value: string): Promise<void>;
  removeItem(key: string): Promise<void>;
}

/**
 * Keeps everything in a `Map`: nothing survives the process. For tests, and for a "device"
 * whose restart is simulated by giving a new client the same instance.
 */
export class MemoryStorage implements StorageAdapter {
  readonly data = new Map<string, string>();

  async getItem(key: string): Promise<string | null> {
    return this.data.get(key) ?? null;
  }

  async setItem(key: string, value: string): Promise<void> {
    this.data.set(key, value);
  }

  async removeItem(key: string): Promise<void> {
    this.data.delete(key);
  }
}

/**
 * The web's `localStorage` (or any object of that shape). Writes are synchronous and survive a
 * reload; a full quota rejects the write, which the SDK reports as the call's error.
 */
export function localStorageAdapter(store?: SyncKeyValueStore): StorageAdapter {
  const target = store ?? (globalThis as { localStorage?: SyncKeyValueStore }).localStorage;
  if (!target) throw new TypeError("no localStorage on this platform: pass a store");
  return {
    getItem: async (key) => target.getItem(key),
    setItem: async (key, value) => target.setItem(key, value),
    removeItem: async (key) => target.removeItem(key),
  };
}

/**
 * React Native's AsyncStorage: pass the module's default export, e.g.
 * `asyncStorageAdapter(AsyncStorage)` after
 * `import AsyncStorage from "@react-native-async-storage/async-storage"` (an optional peer
 * dependency: the SDK itself never imports it).
 */
export function asyncStorageAdapter(asyncStorage: AsyncStorageLike): StorageAdapter {
  return {
    getItem: (key) => asyncStorage.getItem(key),
    setItem: (key, value) => asyncStorage.setItem(key, value),
    removeItem: (key) => asyncStorage.removeItem(key),
  };
}
