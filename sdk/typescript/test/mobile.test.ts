// MobileClient against a real server: restarts, typed errors, user and installation calls, the
// queue, R7, recovery, depersonalize, the user JWT hook (the Python SDK's test_mobile.py).

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  BadRequestError,
  ConflictError,
  DepersonalizeResult,
  MemoryStorage,
  UnauthorizedError,
  type MobileClient,
} from "@audience/sdk";
import { uniqueUser, userJwt } from "./support/admin.js";
import { MemoryLogger, mobile, shop, waitFor } from "./support/fixtures.js";

async function amounts(events: Promise<any[]>): Promise<number[]> {
  return (await events).map((e) => e.properties.amount).sort((a, b) => a - b);
}

test("a restart keeps the installation and the user", async () => {
  const context = await shop();
  const device = new MemoryStorage();
  let client = await mobile(context, device, { platform: "iOS" });
  const firstId = client.pushRegistrationId;
  assert.ok(firstId);
  const person = await client.personalize({ externalUserId: uniqueUser("ann") }, { firstName: "Ann" });
  await client.close();
  client = await mobile(context, device);
  assert.equal(client.pushRegistrationId, firstId);
  assert.equal(client.user?.id, person.id);
  assert.equal((await client.fetchInstallation()).platform, "iOS");
  await client.close();
  const devices = await context.admin.personInstallations(person.id);
  assert.deepEqual(devices.map((d) => d.pushRegistrationId), [firstId]);
});

test("typed errors carry the server's code, message, field and status", async () => {
  const context = await shop();
  const bob = uniqueUser("bob");
  const email = `${bob}@example.com`;
  await context.admin.call("POST", "/v1/persons", { externalUserId: bob, emails: [email] });
  const client = await mobile(context);
  await assert.rejects(client.personalize({ externalUserId: uniqueUser("other"), emails: [email] }), (error) => {
    assert.ok(error instanceof ConflictError);
    assert.equal(error.code, "USER_MERGE_INTERRUPTED");
    assert.equal(error.status, 409);
    assert.ok(error.message.length > 0);
    return true;
  });
  await assert.rejects(client.submitEventImmediately("purchase", { amount: "ten" }), (error) => {
    assert.ok(error instanceof BadRequestError);
    assert.equal(error.code, "INVALID_EVENT");
    assert.equal(error.field, "events.0.properties.amount");
    return true;
  });
  await client.personalize({ externalUserId: bob });
  await assert.rejects(client.personalize({ externalUserId: uniqueUser("carl") }), (error) => {
    assert.ok(error instanceof ConflictError);
    assert.equal(error.code, "PERSONALIZATION_IMPOSSIBLE");
    return true;
  });
  const carl = uniqueUser("carl");
  const moved = await client.personalize({ externalUserId: carl }, undefined, { forceDepersonalize: true });
  assert.equal(moved.externalUserId, carl);
  await client.close();
});

test("user and installation calls across two devices of one user", async () => {
  const context = await shop();
  const phone = await mobile(context);
  const tablet = await mobile(context, new MemoryStorage(), { platform: "iOS" });
  const dana = uniqueUser("dana");
  await phone.personalize({ externalUserId: dana });
  await tablet.personalize({ externalUserId: dana });
  const saved = await phone.saveUser({ customAttributes: { plan: "gold" }, tags: ["vip"] });
  assert.deepEqual(saved.customAttributes, { plan: "gold" });
  assert.deepEqual(saved.tags, ["vip"]);
  assert.deepEqual((await tablet.fetchUser()).customAttributes, { plan: "gold" });
  const device = await phone.saveInstallation({ customAttributes: { darkMode: true } });
  assert.deepEqual(device.customAttributes, { darkMode: true });
  await tablet.setAsPrimary(phone.pushRegistrationId);
  const primary = Object.fromEntries(
    (await tablet.installationsOfUser()).map((d) => [d.pushRegistrationId, d.isPrimaryDevice]),
  );
  assert.deepEqual(primary, { [phone.pushRegistrationId!]: true, [tablet.pushRegistrationId!]: false });
  await tablet.setAsPrimary();
  assert.equal((await phone.fetchInstallation()).isPrimaryDevice, false);
  await phone.depersonalizeInstallation(tablet.pushRegistrationId!);
  assert.notEqual((await tablet.fetchInstallation()).personId, saved.id);
  assert.deepEqual(
    (await phone.installationsOfUser()).map((d) => d.pushRegistrationId),
    [phone.pushRegistrationId],
  );
  await phone.close();
  await tablet.close();
});

test("the queue sends valid events in batches and drops invalid ones", async () => {
  const context = await shop();
  const logger = new MemoryLogger();
  const client = await mobile(context, new MemoryStorage(), { batchSize: 10, logger });
  const person = await client.personalize({ externalUserId: uniqueUser("eve") });
  for (let amount = 0; amount < 25; amount++) {
    await client.submitEvent("purchase", { amount });
    if (amount === 3) await client.submitEvent("purchase", { amount: "bad" }); // must not block the queue
  }
  // batches of 10 went out as the queue filled (no background timer here)
  assert.equal(client.queuedEvents, 6);
  await client.flush();
  assert.equal(client.queuedEvents, 0);
  await client.close();
  assert.deepEqual(await amounts(context.admin.events(person.id)), [...Array(25).keys()]);
  assert.equal(logger.warnings.filter((w) => w.includes("INVALID_EVENT")).length, 1);
});

test("the background sender sends by time", async () => {
  const context = await shop();
  const client = await mobile(context, new MemoryStorage(), { flushIntervalMs: 200 });
  try {
    const person = await client.personalize({ externalUserId: uniqueUser("fay") });
    await client.submitEvent("purchase", { amount: 1 });
    await waitFor(() => client.queuedEvents === 0);
    assert.equal((await context.admin.events(person.id)).length, 1);
  } finally {
    await client.close();
  }
});

test("a full batch wakes the background sender at once, also after idle rounds", async () => {
  const context = await shop();
  const client = await mobile(context, new MemoryStorage(), { flushIntervalMs: 3000, batchSize: 5 });
  try {
    await new Promise((r) => setTimeout(r, 3300)); // one idle round of the sender went by
    for (let amount = 0; amount < 5; amount++) await client.submitEvent("purchase", { amount });
    const woken = Date.now();
    await waitFor(() => client.queuedEvents === 0, 2500); // not at the next round (~2.7 s on)
    assert.ok(Date.now() - woken < 2500);
  } finally {
    await client.close();
  }
});

test("AppLaunch: the 30 s rule locally and on the server", async () => {
  const context = await shop();
  const start = Date.now() - 3600_000;
  const at = (seconds: number) => new Date(start + seconds * 1000);
  const client = await mobile(context);
  const person = await client.personalize({ externalUserId: uniqueUser("gus") });
  assert.equal(await client.appLaunched(at(0)), true);
  assert.equal(await client.appLaunched(at(10)), false);
  assert.equal(await client.appLaunched(at(30)), false);
  assert.equal(await client.appLaunched(at(31)), true);
  await client.flush();
  // the server applies R7 too: a launch sent around the local check is dropped
  const answer = await client.submitEventImmediately("AppLaunch", undefined, at(40));
  assert.equal(answer.dropped, 1);
  await client.close();
  assert.equal((await context.admin.events(person.id, "AppLaunch")).length, 2);
});

test("a lost registration is registered again and personalized again (NO_REGISTRATION)", async () => {
  const context = await shop();
  const device = new MemoryStorage();
  const killed = await mobile(context, device);
  const person = await killed.personalize({ externalUserId: uniqueUser("hal") });
  await killed.submitEvent("purchase", { amount: 7 }); // queued; then the app is killed
  // the server no longer knows the id the device holds (e.g. restored from a backup)
  const lostId = "00000000-lost";
  const stateKey = [...device.data.keys()].find((key) => key.endsWith(":state"))!;
  const state = JSON.parse(device.data.get(stateKey)!);
  state.installation.pushRegistrationId = lostId;
  device.data.set(stateKey, JSON.stringify(state));
  const client = await mobile(context, device);
  await client.flush();
  assert.notEqual(client.pushRegistrationId, lostId);
  assert.equal((await client.fetchInstallation()).personId, person.id);
  await client.close();
  assert.deepEqual(await amounts(context.admin.events(person.id)), [7]);
});

test("an uninstalled installation registers anew without the user (INSTALLATION_UNINSTALLED)", async () => {
  const context = await shop();
  const client = await mobile(context);
  const person = await client.personalize({ externalUserId: uniqueUser("ida") });
  const oldId = client.pushRegistrationId!;
  await context.admin.call("DELETE", `/v1/installations/${oldId}`);
  const installation = await client.fetchInstallation();
  assert.notEqual(installation.pushRegistrationId, oldId);
  assert.notEqual(installation.personId, person.id);
  assert.equal(client.user, undefined);
  await client.close();
});

test("depersonalize online: events before go to the user, after to a new anonymous person", async () => {
  const context = await shop();
  const client = await mobile(context);
  const person = await client.personalize({ externalUserId: uniqueUser("jan") });
  await client.submitEvent("purchase", { amount: 1 });
  assert.equal(await client.depersonalize(), DepersonalizeResult.SUCCESS);
  assert.equal(client.user, undefined);
  assert.equal(client.pendingDepersonalize, false);
  await client.submitEvent("purchase", { amount: 2 });
  await client.flush();
  const anonymous = (await client.fetchInstallation()).personId;
  await client.close();
  assert.notEqual(anonymous, person.id);
  assert.deepEqual(await amounts(context.admin.events(person.id)), [1]);
  assert.deepEqual(await amounts(context.admin.events(anonymous)), [2]);
});

test("userToken supplies a fresh user JWT to every user call of a requireUserJwt app", async () => {
  const context = await shop(undefined, true);
  const ann = uniqueUser("ann");
  const tokens: string[] = [];
  let signedIn: string | null = ann;
  const client: MobileClient = await mobile(context, new MemoryStorage(), {
    userToken: async () => {
      if (signedIn === null) return null;
      tokens.push(userJwt(context.jwtSecret, signedIn));
      return tokens[tokens.length - 1];
    },
  });
  const person = await client.personalize({ externalUserId: ann });
  assert.equal(person.externalUserId, ann);
  assert.equal((await client.saveUser({ firstName: "Ann" })).firstName, "Ann");
  assert.equal((await client.fetchUser()).id, person.id);
  assert.equal(tokens.length, 3); // one fresh token per user call (each jti is used once)
  signedIn = null;
  await assert.rejects(client.fetchUser(), (error) => {
    assert.ok(error instanceof UnauthorizedError);
    assert.equal(error.status, 401);
    return true;
  });
  await client.close();
});
