// Integration points for features landing on the server in parallel: the push token (works
// today, through the installation PATCH), PushDelivered/PushOpened reports (issue 16: only
// their queueing is checked here) and `asOf` on person updates (issue 17: off by default).

import assert from "node:assert/strict";
import { test } from "node:test";
import { MemoryStorage, PUSH_DELIVERED, PUSH_OPENED } from "@audience/sdk";
import { uniqueUser } from "./support/admin.js";
import { FlakyFetch, mobile, shop } from "./support/fixtures.js";

function queuedEvents(storage: MemoryStorage): any[] {
  return [...storage.data.entries()]
    .filter(([key]) => /:q:\d+$/.test(key))
    .flatMap(([, value]) => JSON.parse(value).map((entry: any) => entry.event));
}

test("setPushToken hands the device's token to the server, where targeting sees it", async () => {
  const context = await shop();
  const client = await mobile(context, new MemoryStorage(), { platform: "iOS" });
  const installation = await client.setPushToken("apns-token-1", "APNS");
  assert.equal(installation.pushServiceToken, "apns-token-1");
  assert.equal(installation.pushServiceType, "APNS");
  const server = await context.admin.call("GET", `/v1/installations/${client.pushRegistrationId}`);
  assert.equal(server.pushServiceToken, "apns-token-1");
  // a refreshed token replaces it, and a re-registration (NO_REGISTRATION) would carry it
  await client.setPushToken("apns-token-2", "APNS");
  assert.equal((await client.fetchInstallation()).pushServiceToken, "apns-token-2");
  await client.close();
});

test("reportPushDelivered / reportPushOpened queue events with the message id", async () => {
  const context = await shop();
  const storage = new MemoryStorage();
  const network = new FlakyFetch();
  const client = await mobile(context, storage, { fetch: network.fetch });
  await client.personalize({ externalUserId: uniqueUser("nia") });
  const delivered = await client.reportPushDelivered("msg-1");
  const opened = await client.reportPushOpened("msg-1");
  assert.deepEqual(
    queuedEvents(storage).map((e) => [e.definitionId, e.eventId, e.properties]),
    [
      [PUSH_DELIVERED, delivered, { messageId: "msg-1" }],
      [PUSH_OPENED, opened, { messageId: "msg-1" }],
    ],
  );
  // also while a logout is pending: the message was meant for the user logging out
  network.failures = Array(100).fill("down");
  assert.equal(await client.depersonalize(), "PENDING");
  await client.reportPushOpened("msg-2");
  assert.equal(queuedEvents(storage).at(-1).properties.messageId, "msg-2");
});

test("saveUser sends no asOf by default, and asOf = the call's time with sendAsOf", async () => {
  const context = await shop();
  const recorder = new FlakyFetch();
  const client = await mobile(context, new MemoryStorage(), { fetch: recorder.fetch });
  await client.personalize({ externalUserId: uniqueUser("ola") });
  const saved = await client.saveUser({ firstName: "Ola" });
  assert.equal(saved.firstName, "Ola");
  const patch = (r: FlakyFetch) => JSON.parse(r.bodies.filter((b) => b.url.endsWith("/person")).at(-1)!.body!);
  assert.deepEqual(patch(recorder), { firstName: "Ola" });

  const withAsOf = new FlakyFetch();
  const ordered = await mobile(context, new MemoryStorage(), { fetch: withAsOf.fetch, sendAsOf: true });
  await ordered.personalize({ externalUserId: uniqueUser("ola") });
  const before = Date.now();
  withAsOf.failures = [503]; // retried: asOf stays the time of the call, not of the retry
  try {
    await ordered.saveUser({ lastName: "Nordmann" });
  } catch (error: any) {
    // a server without issue 17 refuses the unknown field; that is why it is off by default
    assert.equal(error.code, "VALIDATION_ERROR");
  }
  const sent = withAsOf.bodies.filter((b) => b.url.endsWith("/person")).map((b) => JSON.parse(b.body!));
  assert.equal(sent.length, 2);
  assert.equal(sent[0].lastName, "Nordmann");
  assert.equal(sent[0].asOf, sent[1].asOf);
  assert.ok(Math.abs(Date.parse(sent[0].asOf) - before) < 1000);
  assert.match(sent[0].asOf, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  await client.close();
  await ordered.close();
});
