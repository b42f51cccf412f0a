// Storage adapters and the durable queue: every adapter keeps the installation and the queue
// across an app restart; the queue is written in chunks with group commit.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  MemoryStorage,
  asyncStorageAdapter,
  localStorageAdapter,
  type StorageAdapter,
  type SyncKeyValueStore,
} from "@audience/sdk";
import { uniqueUser } from "./support/admin.js";
import { mobile, shop } from "./support/fixtures.js";

/** A `localStorage` look-alike kept in a JSON file, re-read by every new instance (a page reload). */
class FileLocalStorage implements SyncKeyValueStore {
  private readonly data: Record<string, string>;
  writes = 0;
  constructor(private readonly path: string) {
    this.data = existsSync(path) ? JSON.parse(readFileSync(path, "utf8")) : {};
  }
  getItem(key: string): string | null {
    return this.data[key] ?? null;
  }
  setItem(key: string, value: string): void {
    this.data[key] = value;
    this.writes += 1;
    writeFileSync(this.path, JSON.stringify(this.data));
  }
  removeItem(key: string): void {
    delete this.data[key];
    writeFileSync(this.path, JSON.stringify(this.data));
  }
}

/** An AsyncStorage look-alike: every call resolves on a later turn of the event loop. */
class SlowAsyncStorage {
  readonly data = new Map<string, string>();
  private later<T>(value: T): Promise<T> {
    return new Promise((resolve) => setTimeout(() => resolve(value), 1));
  }
  getItem(key: string) {
    return this.later(this.data.get(key) ?? null);
  }
  setItem(key: string, value: string) {
    this.data.set(key, value);
    return this.later(undefined);
  }
  removeItem(key: string) {
    this.data.delete(key);
    return this.later(undefined);
  }
}

const adapters: [string, () => { storage: () => StorageAdapter; cleanup: () => void }][] = [
  ["memory", () => {
    const memory = new MemoryStorage();
    return { storage: () => memory, cleanup: () => undefined };
  }],
  ["localStorage (file-backed, reloaded)", () => {
    const folder = mkdtempSync(join(tmpdir(), "audience-ls-"));
    const file = join(folder, "localStorage.json");
    return {
      storage: () => localStorageAdapter(new FileLocalStorage(file)),
      cleanup: () => rmSync(folder, { recursive: true, force: true }),
    };
  }],
  ["AsyncStorage", () => {
    const device = new SlowAsyncStorage();
    return { storage: () => asyncStorageAdapter(device), cleanup: () => undefined };
  }],
];

for (const [name, make] of adapters) {
  test(`${name}: the installation, the user and 250 queued events survive a restart`, async () => {
    const context = await shop();
    const { storage, cleanup } = make();
    try {
      const first = await mobile(context, storage(), { batchSize: 1000 }); // nothing sent by size
      const person = await first.personalize({ externalUserId: uniqueUser("lea") });
      // a burst, not awaited one by one: group commit writes it in a few storage writes
      await Promise.all([...Array(250).keys()].map((amount) => first.submitEvent("purchase", { amount })));
      assert.equal(first.queuedEvents, 250);
      // the app is killed here (no close); a new start reads everything back
      const second = await mobile(context, storage());
      assert.equal(second.pushRegistrationId, first.pushRegistrationId);
      assert.equal(second.user?.id, person.id);
      assert.equal(second.queuedEvents, first.queuedEvents);
      await second.flush();
      await second.close();
      const amounts = (await context.admin.events(person.id)).map((e) => e.properties.amount);
      assert.equal(amounts.length, 250);
      assert.equal(new Set(amounts).size, 250);
      assert.equal((await mobile(context, storage())).queuedEvents, 0);
    } finally {
      cleanup();
    }
  });
}

test("one storage serves several applications' clients apart", async () => {
  const shopA = await shop();
  const shopB = await shop();
  const storage = new MemoryStorage();
  const a = await mobile(shopA, storage);
  const b = await mobile(shopB, storage);
  assert.notEqual(a.pushRegistrationId, b.pushRegistrationId);
  await a.submitEvent("purchase", { amount: 1 });
  assert.equal(b.queuedEvents, 0);
  assert.equal((await mobile(shopA, storage)).pushRegistrationId, a.pushRegistrationId);
  await a.close();
  await b.close();
});

test("the queue is chunked: one event rewrites one small chunk, not the whole queue", async () => {
  const context = await shop();
  const folder = mkdtempSync(join(tmpdir(), "audience-ls-"));
  try {
    const store = new FileLocalStorage(join(folder, "ls.json"));
    const client = await mobile(context, localStorageAdapter(store), { batchSize: 1000 });
    for (let amount = 0; amount < 300; amount++) await client.submitEvent("purchase", { amount });
    const keys = Object.keys(JSON.parse(readFileSync(join(folder, "ls.json"), "utf8")));
    assert.equal(keys.filter((key) => /:q:\d+$/.test(key)).length, 3); // 100 events per chunk
    const largest = Math.max(...keys.map((key) => (store.getItem(key) ?? "").length));
    assert.ok(largest < 20_000, `largest value ${largest} chars`); // ~160 per event, not 300 events' worth
    await client.flush();
    const left = Object.keys(JSON.parse(readFileSync(join(folder, "ls.json"), "utf8")));
    assert.equal(left.filter((key) => /:q:\d+$/.test(key)).length, 0);
    await client.close();
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

test("a storage that fails a write makes the call fail; the next write catches up", async () => {
  const context = await shop();
  const memory = new MemoryStorage();
  let failNext = false;
  const flaky: StorageAdapter = {
    getItem: (key) => memory.getItem(key),
    setItem: async (key, value) => {
      if (failNext) {
        failNext = false;
        throw new Error("QuotaExceededError (injected)");
      }
      await memory.setItem(key, value);
    },
    removeItem: (key) => memory.removeItem(key),
  };
  const client = await mobile(context, flaky);
  failNext = true;
  await assert.rejects(client.submitEvent("purchase", { amount: 1 }), /QuotaExceeded/);
  await client.submitEvent("purchase", { amount: 2 });
  const reopened = await mobile(context, memory);
  assert.equal(reopened.queuedEvents, 2);
});
