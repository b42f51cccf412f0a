// The SDK on a bad network: an offline queue of 500 events and a pending logout across a server
// restart, injected 5xx/429/refused connections and lost answers retried without duplicates,
// giving up with a typed error, a 413 halving the batch, concurrent callers (the Python SDK's
// test_resilience.py).

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  DepersonalizationInProgressError,
  DepersonalizeResult,
  MemoryStorage,
  NetworkError,
  ServerError,
} from "@audience/sdk";
import { Admin, uniqueUser } from "./support/admin.js";
import { AudienceServer } from "./support/server.js";
import { FlakyFetch, MemoryLogger, eventsCall, mobile, shop } from "./support/fixtures.js";

async function storedEventIds(admin: Admin, personId: string): Promise<string[]> {
  return (await admin.events(personId)).map((e) => e.eventId);
}

test("an offline queue of 500 events and a pending logout survive a server restart", async () => {
  const spare = process.env["AUDIENCE_TEST_SPARE"];
  const server = spare ? AudienceServer.adopt(JSON.parse(spare)) : await AudienceServer.start();
  try {
    const context = await shop(server.baseUrl);
    const device = new MemoryStorage();
    let client = await mobile(context, device, { batchSize: 100 });
    const person = await client.personalize({ externalUserId: uniqueUser("olga") });
    await server.stop();
    // the server is down: events queue, the logout is kept pending, user calls fail fast
    for (let amount = 0; amount < 500; amount++) await client.submitEvent("purchase", { amount });
    assert.equal(await client.depersonalize(), DepersonalizeResult.PENDING);
    assert.equal(client.user, undefined);
    assert.equal(client.pendingDepersonalize, true);
    const refused = [
      () => client.personalize({ externalUserId: "olga" }),
      () => client.saveUser({ firstName: "O" }),
      () => client.fetchUser(),
      () => client.saveInstallation({ osVersion: "15" }),
      () => client.setAsPrimary(),
      () => client.installationsOfUser(),
      () => client.depersonalizeInstallation("other"),
      () => client.submitEvent("purchase", { amount: 1 }),
      () => client.submitEventImmediately("purchase", { amount: 1 }),
    ];
    for (const call of refused) {
      await assert.rejects(call(), (error) => {
        assert.ok(error instanceof DepersonalizationInProgressError);
        assert.equal(error.code, "DEPERSONALIZATION_IN_PROGRESS");
        return true;
      });
    }
    assert.equal(await client.appLaunched(), false);
    await assert.rejects(client.flush(), NetworkError);
    await client.close(); // the app is killed while offline; nothing is lost
    client = await mobile(context, device);
    assert.equal(client.queuedEvents, 500);
    assert.equal(client.pendingDepersonalize, true);
    await server.start();
    await client.flush();
    assert.equal(client.queuedEvents, 0);
    assert.equal(client.pendingDepersonalize, false);
    const installation = await client.fetchInstallation();
    await client.close();
    const ids = await storedEventIds(context.admin, person.id);
    assert.equal(ids.length, 500);
    assert.equal(new Set(ids).size, 500);
    assert.notEqual(installation.personId, person.id); // depersonalize applied after the events
    assert.deepEqual(await context.admin.personInstallations(person.id), []);
    assert.equal((await context.admin.events(person.id, "Depersonalize")).length, 1);
  } finally {
    if (spare) await server.stop(); // the runner removes the spare's folder
    else await server.destroy();
  }
});

test("injected 500, 429 and refused connections are retried", async () => {
  const context = await shop();
  const flaky = new FlakyFetch();
  flaky.failures = [500, 429, "down"];
  const client = await mobile(context, new MemoryStorage(), { fetch: flaky.fetch }); // registers through 3 failures
  assert.ok(client.pushRegistrationId);
  assert.equal(flaky.requests, 4);
  const person = await client.personalize({ externalUserId: uniqueUser("pia") });
  flaky.failures = [503, 502, 429];
  await client.submitEvent("purchase", { amount: 1 });
  await client.flush();
  await client.close();
  assert.equal((await storedEventIds(context.admin, person.id)).length, 1);
});

test("lost answers are retried without duplicates", async () => {
  const context = await shop();
  const flaky = new FlakyFetch(eventsCall);
  const client = await mobile(context, new MemoryStorage(), { fetch: flaky.fetch, batchSize: 50 });
  const person = await client.personalize({ externalUserId: uniqueUser("quinn") });
  flaky.failures = ["lost", 500, "lost"]; // stored by the server each time, answer lost
  for (let amount = 0; amount < 120; amount++) await client.submitEvent("purchase", { amount });
  await client.flush();
  flaky.failures = ["lost"];
  const answer = await client.submitEventImmediately("purchase", { amount: 999 });
  assert.deepEqual(answer, { accepted: 0, duplicates: 1, dropped: 0 });
  await client.close();
  const ids = await storedEventIds(context.admin, person.id);
  assert.equal(ids.length, 121);
  assert.equal(new Set(ids).size, 121);
});

test("a request without an answer in time is retried as a lost answer", async () => {
  const context = await shop();
  let stalls = 1;
  const stalling = async (url: string, init: any) => {
    if (eventsCall(url) && stalls-- > 0) {
      await (await fetch(url, init)).text(); // the server stores the batch...
      return new Promise<never>(() => undefined); // ...and its answer never comes
    }
    return fetch(url, init);
  };
  const client = await mobile(context, new MemoryStorage(), { fetch: stalling, timeoutMs: 300 });
  const person = await client.personalize({ externalUserId: uniqueUser("tim") });
  await client.submitEvent("purchase", { amount: 1 });
  await client.flush();
  await client.close();
  assert.equal((await storedEventIds(context.admin, person.id)).length, 1);
});

test("retries give up with a typed error and keep the queue", async () => {
  const context = await shop();
  const flaky = new FlakyFetch(eventsCall);
  const client = await mobile(context, new MemoryStorage(), { fetch: flaky.fetch });
  flaky.failures = [500, 500, 500, 500];
  await client.submitEvent("purchase", { amount: 1 });
  await assert.rejects(client.flush(), (error) => {
    assert.ok(error instanceof ServerError);
    assert.equal(error.status, 500);
    return true;
  });
  assert.equal(client.queuedEvents, 1);
  await client.flush();
  assert.equal(client.queuedEvents, 0);
  await client.close();
});

test("Retry-After is honoured before the next attempt", async () => {
  const context = await shop();
  const seen: number[] = [];
  const throttled = async (url: string, init: any) => {
    seen.push(Date.now());
    if (eventsCall(url) && seen.length === 2) {
      return new Response("{}", { status: 429, headers: { "Retry-After": "0.4" } });
    }
    return fetch(url, init);
  };
  const client = await mobile(context, new MemoryStorage(), {
    fetch: throttled,
    retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2000 },
  });
  await client.submitEvent("purchase", { amount: 1 });
  await client.flush();
  await client.close();
  assert.equal(seen.length, 3); // registration, the 429, the retry
  assert.ok(seen[2]! - seen[1]! >= 390, `retried after ${seen[2]! - seen[1]!} ms`);
});

test("a 413 from the server halves the batch; an event too large alone is dropped", async () => {
  // the runner's server takes bodies of at most 256 KiB: 100 events of ~4 KB do not fit
  const context = await shop();
  const logger = new MemoryLogger();
  const flaky = new FlakyFetch(eventsCall);
  const client = await mobile(context, new MemoryStorage(), { fetch: flaky.fetch, logger });
  const person = await client.personalize({ externalUserId: uniqueUser("uma") });
  const sku = "x".repeat(4000);
  for (let amount = 0; amount < 99; amount++) await client.submitEvent("purchase", { amount, sku });
  await client.submitEvent("purchase", { amount: 1000, sku: "y".repeat(300_000) }); // never fits
  await client.flush();
  await client.close();
  const stored = await context.admin.events(person.id);
  assert.equal(stored.length, 99);
  assert.equal(new Set(stored.map((e) => e.eventId)).size, 99);
  assert.equal(logger.warnings.filter((w) => w.includes("too large")).length, 1);
  const sizes = flaky.bodies.filter((b) => eventsCall(b.url)).map((b) => JSON.parse(b.body!).events.length);
  assert.equal(sizes[0], 100); // the first try, refused with 413
  assert.ok(sizes.includes(50) && sizes.includes(1), `batch sizes ${sizes}`);
});

test("one client used by many concurrent callers stores every event once", async () => {
  const context = await shop();
  const client = await mobile(context, new MemoryStorage(), { batchSize: 20, flushIntervalMs: 50 });
  const person = await client.personalize({ externalUserId: uniqueUser("rita") });
  const worker = async (index: number) => {
    for (let amount = 0; amount < 50; amount++) {
      await client.submitEvent("purchase", { amount: index * 1000 + amount });
      if (amount % 10 === 0) {
        await client.saveUser({ customAttributes: { plan: `p${index}` } });
        await client.fetchInstallation();
      }
    }
  };
  await Promise.all([...Array(8).keys()].map(worker));
  await client.close();
  const ids = await storedEventIds(context.admin, person.id);
  assert.equal(ids.length, 400);
  assert.equal(new Set(ids).size, 400);
});

test("devices of one user logging in at the same moment end on one person, every event once", async () => {
  const context = await shop();
  const sam = uniqueUser("sam");
  const device = async () => {
    const client = await mobile(context);
    await client.personalize({ externalUserId: sam });
    for (let amount = 0; amount < 30; amount++) await client.submitEvent("purchase", { amount });
    await client.close();
  };
  await Promise.all([...Array(6).keys()].map(device));
  const person = await context.admin.call("GET", `/v1/persons/lookup?externalUserId=${sam}`);
  assert.equal((await context.admin.personInstallations(person.id)).length, 6);
  const ids = await storedEventIds(context.admin, person.id);
  assert.equal(ids.length, 180);
  assert.equal(new Set(ids).size, 180);
});
