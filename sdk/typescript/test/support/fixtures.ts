/** What most tests share: the server the runner started, a fresh app, a client factory. */

import { MemoryStorage, MobileClient, type FetchLike, type Logger, type MobileClientOptions } from "@audience/sdk";
import { Admin } from "./admin.js";

/** Fast retries, as the Python tests' `FAST_RETRY`. */
export const FAST_RETRY = { attempts: 4, baseDelayMs: 10, maxDelayMs: 50 };

export function serverUrl(): string {
  const url = process.env["AUDIENCE_TEST_URL"];
  if (!url) throw new Error("AUDIENCE_TEST_URL is not set: run the tests with `npm test`");
  return url;
}

/** A logger that keeps what it is told, so tests stay quiet and can look. */
export class MemoryLogger implements Logger {
  readonly warnings: string[] = [];
  readonly infos: string[] = [];
  warn(message: string): void {
    this.warnings.push(message);
  }
  info(message: string): void {
    this.infos.push(message);
  }
}

export interface Shop {
  admin: Admin;
  baseUrl: string;
  appCode: string;
  jwtSecret: string;
}

export async function shop(baseUrl: string = serverUrl(), requireUserJwt = false): Promise<Shop> {
  const admin = new Admin(baseUrl);
  const app = await admin.createApp(requireUserJwt);
  return { admin, baseUrl, appCode: app.applicationCode, jwtSecret: app.jwtSecret };
}

/** A client without a background timer and with fast retries, unless told otherwise. */
export function mobile(
  context: { baseUrl: string; appCode: string },
  storage: MemoryStorage | MobileClientOptions["storage"] = new MemoryStorage(),
  options: Partial<MobileClientOptions> = {},
): Promise<MobileClient> {
  return MobileClient.create({
    baseUrl: context.baseUrl,
    applicationCode: context.appCode,
    storage,
    flushIntervalMs: null,
    retry: FAST_RETRY,
    logger: new MemoryLogger(),
    ...options,
  });
}

export type Failure = number | "down" | "lost";

/**
 * A `fetch` that answers the next matching requests with injected failures: a status code,
 * `"down"` (connection refused) or `"lost"` (the server did the work, its answer never came).
 */
export class FlakyFetch {
  failures: Failure[] = [];
  requests = 0;
  readonly bodies: { url: string; body: string | undefined }[] = [];

  constructor(private readonly matches: (url: string) => boolean = () => true) {}

  readonly fetch: FetchLike = async (url, init) => {
    this.requests += 1;
    this.bodies.push({ url, body: init.body });
    const failure = this.failures.length > 0 && this.matches(url) ? this.failures.shift() : undefined;
    if (failure === "down") throw new TypeError("fetch failed (injected: connection refused)");
    if (failure === "lost") {
      const answer = await fetch(url, init as RequestInit);
      await answer.text();
      throw new TypeError("fetch failed (injected: answer lost)");
    }
    if (typeof failure === "number") {
      return new Response("{}", { status: failure, headers: { "Retry-After": "0" } });
    }
    return fetch(url, init as RequestInit);
  };
}

export const eventsCall = (url: string): boolean => url.split("?")[0]!.endsWith("/events");

/** Polls `condition` until true or `ms` passed. */
export async function waitFor(condition: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}
