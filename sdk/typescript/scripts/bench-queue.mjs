// The target: 10,000 queued events are sent in ≤ 5 s to a local server, with 0
// duplicates and 0 lost. Starts its own `audience serve` (SQLite, one worker), queues the
// events (offline, so nothing goes early), then times `flush()` and checks every event on the
// server. Prints one JSON line last. Not part of the test suite.
//   node scripts/bench-queue.mjs [--events 10000] [--max-batch-size 1000]   (the defaults)
import { MemoryStorage, MobileClient } from "../dist/index.js";
import { Admin } from "../dist-test/test/support/admin.js";
import { AudienceServer } from "../dist-test/test/support/server.js";

const arg = (name, fallback) => {
  const index = process.argv.indexOf(`--${name}`);
  return index > 0 ? Number(process.argv[index + 1]) : fallback;
};
const total = arg("events", 10_000);
const maxBatchSize = arg("max-batch-size", 1000);
const batchSize = Math.min(100, maxBatchSize);

const server = await AudienceServer.start();
try {
  const admin = new Admin(server.baseUrl);
  const app = await admin.createApp();
  const logger = { warn: (m) => console.error(m), info() {} };
  const options = { baseUrl: server.baseUrl, applicationCode: app.applicationCode, flushIntervalMs: null, logger };
  const storage = new MemoryStorage();
  const client = await MobileClient.create({ ...options, storage, batchSize, maxBatchSize });
  const person = await client.personalize({ externalUserId: `bench-${Date.now()}` });
  // queue while "offline": a client whose server address refuses connections
  const offline = await MobileClient.create({
    ...options, baseUrl: "http://127.0.0.1:9", storage, batchSize: 1000, retry: { attempts: 1 },
  });
  let started = performance.now();
  for (let amount = 0; amount < total; amount++) await offline.submitEvent("purchase", { amount });
  const enqueueSeconds = (performance.now() - started) / 1000;

  const sender = await MobileClient.create({ ...options, storage, batchSize, maxBatchSize });
  if (sender.queuedEvents !== total) throw new Error(`queued ${sender.queuedEvents}`);
  started = performance.now();
  await sender.flush();
  const sendSeconds = (performance.now() - started) / 1000;

  const amounts = (await admin.events(person.id)).map((e) => e.properties.amount);
  const distinct = new Set(amounts).size;
  console.log(
    JSON.stringify({
      events: total,
      max_batch_size: maxBatchSize,
      enqueue_s: Number(enqueueSeconds.toFixed(3)),
      send_s: Number(sendSeconds.toFixed(3)),
      events_per_s: Math.round(total / sendSeconds),
      duplicates: amounts.length - distinct,
      lost: total - distinct,
      left_in_queue: sender.queuedEvents,
      target_met: sendSeconds <= 5 && distinct === total && amounts.length === total,
    }),
  );
} finally {
  await server.destroy();
}
