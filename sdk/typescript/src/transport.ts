/**
 * HTTP with retries: exponential back-off with full jitter on network errors, timeouts, 5xx
 * and 429, `Retry-After` honoured. Uses the platform's `fetch` (React Native, browsers,
 * Node ≥ 18) or one you pass in.
 * @module
 */

import { NetworkError, errorFromResponse } from "./errors.js";

/** Version sent in `X-Audience-Sdk` (browsers do not let scripts set `User-Agent`). */
export const SDK_VERSION = "0.1.0";

/** The part of a `fetch` answer the SDK reads. */
export interface FetchResponse {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  text(): Promise<string>;
}

/** The part of `fetch`'s options the SDK passes. */
export interface FetchInit {
  method: string;
  headers: Record<string, string>;
  body?: string;
  /**
   * An `AbortSignal` where the platform has `AbortController` (typed loosely so that any
   * platform's `fetch` — DOM, React Native, Node — can be passed as a {@link FetchLike}).
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  signal?: any;
}

/** A `fetch`-compatible function: the global one, or a wrapper (logging, proxies, tests). */
export type FetchLike = (url: string, init: FetchInit) => Promise<FetchResponse>;

/** `attempts` tries in all; the n-th wait is uniform in [0, min(maxDelayMs, baseDelayMs · 2ⁿ)]. */
export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/** 5 attempts, 200 ms base, 10 s cap — the Python client's `RetryPolicy()`. */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 200, maxDelayMs: 10_000 };

/** The wait before retry number `attempt` (0-based): full jitter, at least `Retry-After` (capped). */
export function retryDelay(policy: RetryPolicy, attempt: number, retryAfterMs?: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  let wait = Math.random() * ceiling;
  if (retryAfterMs !== undefined) wait = Math.max(wait, Math.min(retryAfterMs, policy.maxDelayMs));
  return wait;
}

/** `Retry-After` in milliseconds: delay-seconds or an HTTP date; `undefined` if absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Options of one request. */
export interface RequestOptions {
  json?: unknown;
  params?: Record<string, string>;
  headers?: Record<string, string>;
  attempts?: number;
}

/** Waits `ms` (a call being retried keeps a Node process alive, as its caller awaits it). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Let a Node timer not hold the process open; a no-op on other platforms. */
export function unref(timer: unknown): void {
  const handle = timer as { unref?: () => void } | null;
  if (handle && typeof handle.unref === "function") handle.unref();
}

function defaultFetch(): FetchLike {
  const global = globalThis as { fetch?: FetchLike };
  if (typeof global.fetch !== "function") {
    throw new TypeError("no global fetch on this platform: pass the `fetch` option");
  }
  return global.fetch.bind(globalThis);
}

/** Sends one API call, retrying what is safe to retry, and answers the decoded JSON. */
export class Transport {
  readonly baseUrl: string;
  readonly retry: RetryPolicy;
  private readonly auth: Record<string, string>;
  private readonly fetch: FetchLike;
  private readonly timeoutMs: number;

  constructor(
    baseUrl: string,
    credential: string,
    options: { fetch?: FetchLike; retry?: Partial<RetryPolicy>; timeoutMs?: number } = {},
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.auth = { Authorization: `App ${credential}`, "X-Audience-Sdk": `typescript/${SDK_VERSION}` };
    this.fetch = options.fetch ?? defaultFetch();
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /**
   * The JSON answer (`null` for 204); a typed `ApiError` for a final error answer,
   * `NetworkError` when the server stayed unreachable.
   */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<any> {
    const tries = options.attempts ?? this.retry.attempts;
    let url = this.baseUrl + path;
    if (options.params && Object.keys(options.params).length > 0) {
      url += "?" + queryString(options.params);
    }
    const headers: Record<string, string> = { ...this.auth, Accept: "application/json", ...options.headers };
    let body: string | undefined;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers["Content-Type"] = "application/json";
    }
    for (let attempt = 0; ; attempt++) {
      const last = attempt >= tries - 1;
      let response: FetchResponse;
      let text: string;
      try {
        [response, text] = await this.send(url, { method, headers, body });
      } catch (error) {
        if (last) throw new NetworkError(`${method} ${path}: ${describe(error)}`);
        await sleep(retryDelay(this.retry, attempt));
        continue;
      }
      if ((response.status === 429 || response.status >= 500) && !last) {
        const retryAfter = parseRetryAfter(response.headers.get("retry-after"));
        await sleep(retryDelay(this.retry, attempt, retryAfter));
        continue;
      }
      return decode(response.status, text);
    }
  }

  /** One fetch with a timeout; the body is read inside it (a lost answer is a network error). */
  private async send(url: string, init: FetchInit): Promise<[FetchResponse, string]> {
    const Controller = (globalThis as { AbortController?: new () => { signal: unknown; abort(): void } })
      .AbortController;
    const controller = Controller ? new Controller() : undefined;
    let timer: unknown;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller?.abort();
        reject(new Error(`no answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
    });
    try {
      const request = (async (): Promise<[FetchResponse, string]> => {
        const response = await this.fetch(url, { ...init, signal: controller?.signal });
        return [response, await response.text()];
      })();
      request.catch(() => undefined); // a late failure after the timeout is not unhandled
      return await Promise.race([request, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** `a=1&b=x%20y` — by hand, as React Native's `URLSearchParams` is incomplete. */
function queryString(params: Record<string, string>): string {
  return Object.entries(params)
    .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
    .join("&");
}

function decode(status: number, text: string): unknown {
  let body: unknown = null;
  if (status !== 204 && text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
  }
  if (status >= 400) throw errorFromResponse(status, body);
  return body;
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
  }
  return String(error);
}
