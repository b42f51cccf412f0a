// The package as an app gets it: `npm pack`, installed into an empty React Native-like project
// and compiled there with `tsc --strict` (no DOM, no Node types: the React Native setting), and
// once more as a web project (DOM); then imported at run time from the installed copy.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const TSC = join(PACKAGE_ROOT, "node_modules/typescript/bin/tsc");

const APP = `
import {
  MobileClient, asyncStorageAdapter, ConflictError, DepersonalizeResult,
  type Person, type AsyncStorageLike,
} from "@audience/sdk";

// what "import AsyncStorage from '@react-native-async-storage/async-storage'" gives an app
declare const AsyncStorage: AsyncStorageLike;

export async function start(): Promise<Person | undefined> {
  const sdk = await MobileClient.create({
    baseUrl: "https://audience.example.com",
    applicationCode: "app-code",
    storage: asyncStorageAdapter(AsyncStorage),
    platform: "iOS",
    systemData: { osVersion: "17.4", deviceModel: "iPhone 15" },
    userToken: async () => "jwt",
  });
  await sdk.appLaunched();
  await sdk.setPushToken("token", "APNS");
  await sdk.submitEvent("purchase", { amount: 42.5, sku: "SHOE-7" });
  try {
    return await sdk.personalize({ externalUserId: "ann" }, { firstName: "Ann" });
  } catch (error) {
    if (error instanceof ConflictError && error.code === "USER_MERGE_INTERRUPTED") return undefined;
    throw error;
  } finally {
    const result: DepersonalizeResult = await sdk.depersonalize();
    if (result === DepersonalizeResult.PENDING) await sdk.close();
  }
}
`;

const WEB_APP = `
import { MobileClient, localStorageAdapter } from "@audience/sdk";
export const sdk = MobileClient.create({
  baseUrl: location.origin,
  applicationCode: "app-code",
  storage: localStorageAdapter(window.localStorage),
  fetch: window.fetch.bind(window), // the DOM's fetch fits the SDK's FetchLike
});
`;

const RUN = `
import { MobileClient, MemoryStorage, NetworkError } from "@audience/sdk";
const sdk = await MobileClient.create({
  baseUrl: "http://127.0.0.1:9", applicationCode: "x", storage: new MemoryStorage(),
  retry: { attempts: 1 }, flushIntervalMs: null, logger: { warn() {}, info() {} },
});
await sdk.submitEvent("purchase", { amount: 1 });
let offline = false;
try { await sdk.flush(); } catch (error) { offline = error instanceof NetworkError; }
console.log(JSON.stringify({ queued: sdk.queuedEvents, offline }));
`;

function tsconfig(options: Record<string, unknown>, files: string[]): string {
  return JSON.stringify({ compilerOptions: { strict: true, noEmit: true, skipLibCheck: false, ...options }, files });
}

test("npm pack → install into an empty project → tsc --strict, React Native-like and web", async () => {
  const folder = mkdtempSync(join(tmpdir(), "audience-pack-"));
  try {
    const npm = (args: string[], cwd: string) =>
      execFileSync("npm", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    npm(["pack", "--ignore-scripts", "--pack-destination", folder], PACKAGE_ROOT); // dist/ is fresh: `npm test` built it
    const tarball = readdirSync(folder).find((name) => /^audience-sdk-.*\.tgz$/.test(name));
    assert.ok(tarball, "npm pack made audience-sdk-*.tgz");

    const app = join(folder, "app");
    execFileSync("mkdir", ["-p", app]);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "rn-like-app", version: "1.0.0", private: true }));
    npm(["install", "--offline", "--no-audit", "--no-fund", join(folder, tarball)], app);

    // React Native: bundler resolution, ES2020 only, no DOM or Node types
    writeFileSync(join(app, "App.ts"), APP);
    writeFileSync(
      join(app, "tsconfig.json"),
      tsconfig({ target: "ES2020", lib: ["ES2020"], types: [], module: "ESNext", moduleResolution: "bundler" }, ["App.ts"]),
    );
    execFileSync(process.execPath, [TSC, "-p", "tsconfig.json", "--strict"], { cwd: app, encoding: "utf8" });

    // the web: DOM, Node-style ESM resolution
    writeFileSync(join(app, "web.mts"), WEB_APP);
    writeFileSync(
      join(app, "tsconfig.web.json"),
      // skipLibCheck here only: checking lib.dom.d.ts itself costs seconds and proves nothing
      tsconfig({ target: "ES2022", lib: ["ES2022", "DOM"], types: [], module: "NodeNext", moduleResolution: "NodeNext", skipLibCheck: true }, ["web.mts"]),
    );
    execFileSync(process.execPath, [TSC, "-p", "tsconfig.web.json"], { cwd: app, encoding: "utf8" });

    // and it runs from the installed copy (ESM, no runtime dependencies)
    writeFileSync(join(app, "run.mjs"), RUN);
    const output = execFileSync(process.execPath, ["run.mjs"], { cwd: app, encoding: "utf8" });
    assert.deepEqual(JSON.parse(output), { queued: 1, offline: true });
    const installed = readdirSync(join(app, "node_modules")).filter((name) => !name.startsWith("."));
    assert.deepEqual(installed, ["@audience"]); // nothing else came with it
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});
