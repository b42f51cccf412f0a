// Runs the compiled tests (dist-test/test/*.test.js) with Node's test runner against one real
// `audience serve` (SQLite in a temporary folder) started here; tests that restart a server
// start their own. Exit status: the test runner's.
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { AudienceServer } from "../dist-test/test/support/server.js";

const folder = "dist-test/test";
const only = process.argv.slice(2);
const files = readdirSync(folder)
  .filter((name) => name.endsWith(".test.js"))
  .filter((name) => only.length === 0 || only.some((part) => name.includes(part)))
  .map((name) => join(folder, name));

// Both start at once (a start costs seconds of Python imports): the shared server, with a small
// body limit so the 413 test meets the server's own answer with modest batches, and a spare
// one that the restart test stops and starts again.
const started = await Promise.allSettled([
  AudienceServer.start({ AUDIENCE_MAX_BODY_BYTES: String(256 * 1024) }),
  AudienceServer.start(),
]);
const failed = started.find((result) => result.status === "rejected");
if (failed) {
  await Promise.all(started.map((result) => result.status === "fulfilled" && result.value.destroy()));
  throw failed.reason;
}
const [server, spare] = started.map((result) => result.value);
for (const signal of ["SIGINT", "SIGTERM"]) process.once(signal, () => process.exit(130));
let status = 1;
try {
  const runner = spawn(process.execPath, ["--test", "--test-concurrency=2", ...files], {
    stdio: "inherit",
    env: {
      ...process.env,
      AUDIENCE_TEST_URL: server.baseUrl,
      AUDIENCE_TEST_SPARE: JSON.stringify(spare.handle()),
    },
  });
  status = await new Promise((resolve) => runner.on("exit", (code) => resolve(code ?? 1)));
} finally {
  await Promise.all([server.destroy(), spare.destroy()]);
}
process.exit(status);
