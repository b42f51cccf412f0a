/**
 * `MobileClient`: one app install, behaving as the Python `MobileClient` (docs/sdk.md) and the
 * native mobile SDKs do.
 *
 * - It registers on first start and keeps its `pushRegistrationId` in storage, so a restart is
 *   the same installation; an installation the server no longer knows (404 `NO_REGISTRATION`)
 *   is registered again and re-personalized with the identity it holds.
 * - Custom events go to a durable queue and are sent in batches (by size and by time) with
 *   `?validate=false`, each with a client `eventId` so retries never store one twice.
 * - `depersonalize()` clears the local user at once and stays *pending* until the server
 *   confirms it; meanwhile user calls fail fast with `DEPERSONALIZATION_IN_PROGRESS`.
 *
 * Lock order (as in Python): `flushLock` (one sender of the queue) before `callLock` (one
 * server call of this installation at a time). Local state changes need no lock: they are
 * synchronous in memory, written through by the store in order.
 * @module
 */

import {
  AudienceError,
  DepersonalizationInProgressError,
  GoneError,
  NetworkError,
  NotFoundError,
} from "./errors.js";
import { isoformat, uuid4 } from "./ids.js";
import { LocalStore, namespaceOf, type StateChange } from "./local.js";
import { Mutex } from "./mutex.js";
import type { StorageAdapter } from "./storage.js";
import {
  SDK_VERSION,
  Transport,
  unref,
  type FetchLike,
  type RetryPolicy,
} from "./transport.js";
import type {
  EventProperties,
  EventsAnswer,
  Installation,
  InstallationUpdate,
  Person,
  Platform,
  PushServiceType,
  QueuedEvent,
  SystemData,
  UserAttributes,
  UserIdentity,
  UserUpdate,
} from "./types.js";

/** The server takes at most this many events per call. */
export const MAX_BATCH = 1000;
/** R7: at most one `AppLaunch` per 30 s. */
export const LAUNCH_INTERVAL_MS = 30_000;
/** The standard event of R7. */
export const APP_LAUNCH = "AppLaunch";
/** The event reported by {@link MobileClient.reportPushDelivered} (issue 16). */
export const PUSH_DELIVERED = "PushDelivered";
/** The event reported by {@link MobileClient.reportPushOpened} (issue 16). */
export const PUSH_OPENED = "PushOpened";

const RECOVERABLE = new Set(["NO_REGISTRATION", "INSTALLATION_UNINSTALLED"]);

/** What {@link MobileClient.depersonalize} achieved. */
export const DepersonalizeResult = {
  /** The server confirmed the logout. */
  SUCCESS: "SUCCESS",
  /** Offline: the logout is kept and sent until the server confirms it. */
  PENDING: "PENDING",
} as const;
export type DepersonalizeResult = (typeof DepersonalizeResult)[keyof typeof DepersonalizeResult];

/** Where the SDK reports what it did not throw (dropped events, postponed work). */
export interface Logger {
  warn(message: string): void;
  info(message: string): void;
}

/** Supplies the `X-User-Token` JWT for apps with `requireUserJwt`; called before every user call. */
export type UserTokenProvider = () =>
  | string
  | null
  | undefined
  | Promise<string | null | undefined>;

/** Options of {@link MobileClient.create}. */
export interface MobileClientOptions {
  /** The server, e.g. `https://audience.example.com`. */
  baseUrl: string;
  /** The application's code (from `audience apps create` or `POST /v1/apps`). */
  applicationCode: string;
  /** Where state and the event queue live: {@link asyncStorageAdapter}, {@link localStorageAdapter}, {@link MemoryStorage}. */
  storage: StorageAdapter;
  /** Sent at first registration; default `Android`. */
  platform?: Platform;
  /** Installation fields of SPEC §2 sent at registration; `sdkVersion` defaults to this SDK's. */
  systemData?: SystemData;
  /** Default: the platform's global `fetch`. */
  fetch?: FetchLike;
  /** Default {@link DEFAULT_RETRY}: 5 attempts, 200 ms base, 10 s cap. */
  retry?: Partial<RetryPolicy>;
  /** Per request; a request without an answer by then counts as a network error. Default 10 s. */
  timeoutMs?: number;
  /** A send starts as soon as this many events wait (1..1000). Default 100. */
  batchSize?: number;
  /**
   * Events per request, `batchSize`..1000: a backlog (after a time offline) goes in batches
   * this large, halved on a `413`. Default 1000, the server's limit.
   */
  maxBatchSize?: number;
  /** Milliseconds between background sends of the queue; `null`: no timer (send on a full batch, `flush()`, `close()`). Default 5000. */
  flushIntervalMs?: number | null;
  /** Cap of the background sender's back-off while the server is unreachable. Default 300 000. */
  maxFlushBackoffMs?: number;
  /** The user JWT for `requireUserJwt` apps: called for a fresh token before each user call. */
  userToken?: UserTokenProvider;
  /**
   * Send `asOf` (the time the app made the change) with {@link MobileClient.saveUser}, so the
   * server keeps fields changed later (SPEC §14). Off by default until the server supports it
   * (issue 17): a server without it refuses the unknown field.
   */
  sendAsOf?: boolean;
  /** Default: `console`. */
  logger?: Logger;
}

/** Options of {@link MobileClient.personalize}. */
export interface PersonalizeOptions {
  /** Log the installation out of the identified person it is linked to first (R2 step 3). */
  forceDepersonalize?: boolean;
  /** Make this device the person's primary one (R5). */
  setAsPrimary?: boolean;
}

interface MobileCall {
  json?: unknown;
  params?: Record<string, string>;
  /** A call on the user: carries the user JWT. */
  user?: boolean;
  recover?: boolean;
}

/** What to register with next time: the first data plus every saved change. */
function mergeRegistration(
  old: Record<string, unknown>,
  changes: Record<string, unknown>,
): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...old };
  for (const [key, value] of Object.entries(changes)) {
    if (key !== "customAttributes") merged[key] = value;
  }
  if ("customAttributes" in changes) {
    const attributes = {
      ...((old["customAttributes"] as Record<string, unknown> | undefined) ?? {}),
      ...((changes["customAttributes"] as Record<string, unknown> | null) ?? {}),
    };
    merged["customAttributes"] = Object.fromEntries(
      Object.entries(attributes).filter(([, value]) => value !== null),
    );
  }
  return Object.fromEntries(Object.entries(merged).filter(([, value]) => value !== null && value !== undefined));
}

function makeEvent(definitionId: string, properties?: EventProperties, date?: Date): QueuedEvent {
  const event: QueuedEvent = { definitionId, eventId: uuid4(), date: isoformat(date ?? new Date()) };
  if (properties && Object.keys(properties).length > 0) event.properties = properties;
  return event;
}

/** One installation of one application; its state lives in the given storage. */
export class MobileClient {
  private readonly transport: Transport;
  private readonly batchSize: number;
  private readonly maxBatchSize: number;
  private readonly flushIntervalMs: number | null;
  private readonly maxFlushBackoffMs: number;
  private readonly userToken: UserTokenProvider | undefined;
  private readonly sendAsOf: boolean;
  private readonly logger: Logger;
  private readonly callLock = new Mutex();
  private readonly flushLock = new Mutex();
  private timer: unknown;
  private tick: Promise<void> | null = null;
  private wakeAgain = false;
  private failures = 0;
  private closed = false;

  private constructor(
    options: MobileClientOptions,
    private readonly store: LocalStore,
  ) {
    this.transport = new Transport(options.baseUrl, options.applicationCode, {
      fetch: options.fetch,
      retry: options.retry,
      timeoutMs: options.timeoutMs,
    });
    this.batchSize = options.batchSize ?? 100;
    this.maxBatchSize = options.maxBatchSize ?? MAX_BATCH;
    this.flushIntervalMs = options.flushIntervalMs === undefined ? 5000 : options.flushIntervalMs;
    this.maxFlushBackoffMs = options.maxFlushBackoffMs ?? 300_000;
    this.userToken = options.userToken;
    this.sendAsOf = options.sendAsOf ?? false;
    this.logger = options.logger ?? console;
  }

  /**
   * Opens the installation kept in `options.storage`, registering it on first start. If the
   * server is unreachable, registration happens on the next call or background send.
   */
  static async create(options: MobileClientOptions): Promise<MobileClient> {
    const batchSize = options.batchSize ?? 100;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH) {
      throw new RangeError(`batchSize must be 1..${MAX_BATCH}`);
    }
    const maxBatchSize = options.maxBatchSize ?? MAX_BATCH;
    if (!Number.isInteger(maxBatchSize) || maxBatchSize < batchSize || maxBatchSize > MAX_BATCH) {
      throw new RangeError(`maxBatchSize must be batchSize..${MAX_BATCH}`);
    }
    const store = await LocalStore.open(options.storage, namespaceOf(options.applicationCode));
    const client = new MobileClient(options, store);
    if (store.get("registration") === undefined) {
      await store.update({
        registration: {
          platform: options.platform ?? "Android",
          sdkVersion: SDK_VERSION,
          ...options.systemData,
        },
      });
    }
    try {
      await client.ensureRegistered();
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
      client.logger.info("audience: registration postponed, server unreachable");
    }
    client.schedule(client.flushIntervalMs ?? 0);
    return client;
  }

  // --- local state ---------------------------------------------------------------------------

  /** The server-assigned id of this installation; `undefined` until registered. */
  get pushRegistrationId(): string | undefined {
    return this.store.get("installation")?.pushRegistrationId;
  }

  /** The installation as the server last answered it. */
  get installation(): Installation | undefined {
    return this.store.get("installation");
  }

  /** The personalized user as last answered; `undefined` when anonymous or logged out. */
  get user(): Person | undefined {
    return this.store.get("user");
  }

  /** A logout the server has not confirmed yet. */
  get pendingDepersonalize(): boolean {
    return this.store.get("pendingDepersonalize") === true;
  }

  /** Events waiting in the queue. */
  get queuedEvents(): number {
    return this.store.queued();
  }

  private checkNotPending(): void {
    if (this.pendingDepersonalize) throw new DepersonalizationInProgressError();
  }

  /** Keeps the answer unless a logout happened meanwhile (the later call wins). */
  private async storeUser(user: Person, identity?: UserIdentity): Promise<void> {
    if (this.pendingDepersonalize) return;
    const change: StateChange = { user };
    if (identity !== undefined) change.identity = identity;
    await this.store.update(change);
  }

  // --- server calls --------------------------------------------------------------------------

  private ensureRegistered(): Promise<string> {
    return this.callLock.run(() => this.ensureRegisteredLocked());
  }

  private async ensureRegisteredLocked(): Promise<string> {
    const installation = this.store.get("installation");
    if (installation) return installation.pushRegistrationId;
    const answer: Installation = await this.transport.request("POST", "/v1/installations", {
      json: this.store.get("registration"),
    });
    await this.store.update({ installation: answer });
    return answer.pushRegistrationId;
  }

  private async tokenHeaders(): Promise<Record<string, string> | undefined> {
    const token = this.userToken ? await this.userToken() : undefined;
    return token ? { "X-User-Token": token } : undefined;
  }

  /** A call on the own installation; a lost registration is recovered once. */
  private mobile(method: string, suffix: string, call: MobileCall = {}): Promise<any> {
    return this.callLock.run(() => this.mobileLocked(method, suffix, call));
  }

  private async mobileLocked(method: string, suffix: string, call: MobileCall): Promise<any> {
    const registrationId = await this.ensureRegisteredLocked();
    try {
      return await this.transport.request(method, `/v1/installations/${registrationId}${suffix}`, {
        json: call.json,
        params: call.params,
        headers: call.user ? await this.tokenHeaders() : undefined,
      });
    } catch (error) {
      const lost =
        (error instanceof NotFoundError || error instanceof GoneError) && RECOVERABLE.has(error.code);
      if (call.recover === false || !lost || !(await this.recoverLocked(registrationId))) throw error;
    }
    return this.mobileLocked(method, suffix, { ...call, recover: false });
  }

  /**
   * Registers again if the server lost (404) or uninstalled (410) this installation.
   *
   * The error may be about another device in the path, so the own installation is read
   * first. After a 404 the held identity is personalized again; after a 410 the local user is
   * dropped (the server uninstalls the devices of a deleted person, R10).
   */
  private async recoverLocked(registrationId: string): Promise<boolean> {
    let forgetUser: boolean;
    try {
      await this.transport.request("GET", `/v1/installations/${registrationId}`);
      return false;
    } catch (error) {
      if (error instanceof NotFoundError) forgetUser = false;
      else if (error instanceof GoneError) forgetUser = true;
      else throw error;
    }
    this.logger.warn(`audience: installation ${registrationId} lost on the server; registering again`);
    const change: StateChange = { installation: null, pendingDepersonalize: null };
    if (forgetUser) Object.assign(change, { user: null, identity: null });
    await this.store.update(change);
    await this.ensureRegisteredLocked();
    const identity = this.store.get("identity");
    if (identity) {
      const person: Person = await this.mobileLocked("POST", "/personalize", {
        json: { userIdentity: identity },
        user: true,
        recover: false,
      });
      await this.storeUser(person);
    }
    return true;
  }

  // --- installation --------------------------------------------------------------------------

  /** Reads the own installation from the server (and keeps it). */
  async fetchInstallation(): Promise<Installation> {
    const installation: Installation = await this.mobile("GET", "");
    await this.store.update({ installation });
    return installation;
  }

  /** PATCHes the own installation with SPEC §2 field names (`customAttributes` merge). */
  async saveInstallation(fields: InstallationUpdate): Promise<Installation> {
    this.checkNotPending();
    const installation: Installation = await this.mobile("PATCH", "", { json: fields });
    const registration = mergeRegistration(
      this.store.get("registration") ?? {},
      fields as Record<string, unknown>,
    );
    await this.store.update({ installation, registration });
    return installation;
  }

  /**
   * Hands the SDK the device's push token (FCM, APNs or HMS), e.g. from
   * `messaging().getToken()` or `onTokenRefresh`; `null` clears it. The server targets pushes
   * with it (`/v1/audiences/resolve`, SPEC §13).
   */
  setPushToken(token: string | null, serviceType: PushServiceType): Promise<Installation> {
    return this.saveInstallation({ pushServiceToken: token, pushServiceType: serviceType });
  }

  /** Makes this device (or another device of the same user) the primary one (R5). */
  async setAsPrimary(pushRegistrationId?: string, primary = true): Promise<Installation> {
    if (pushRegistrationId === undefined || pushRegistrationId === this.pushRegistrationId) {
      return this.saveInstallation({ isPrimaryDevice: primary });
    }
    this.checkNotPending();
    return this.mobile("PATCH", `/person/installations/${encodeURIComponent(pushRegistrationId)}`, {
      json: { isPrimaryDevice: primary },
      user: true,
    });
  }

  /** The user's live installations, of every app (push tokens stay on the server). */
  async installationsOfUser(): Promise<Installation[]> {
    this.checkNotPending();
    const page: { items: Installation[] } = await this.mobile("GET", "/person/installations", {
      user: true,
    });
    return page.items;
  }

  /** Logs the user out of another of their devices (R3). */
  async depersonalizeInstallation(pushRegistrationId: string): Promise<Installation> {
    this.checkNotPending();
    return this.mobile(
      "POST",
      `/person/installations/${encodeURIComponent(pushRegistrationId)}/depersonalize`,
      { user: true },
    );
  }

  // --- user ----------------------------------------------------------------------------------

  /** Links this installation to the person with `identity` (R2); answers the person. */
  async personalize(
    identity: UserIdentity,
    attributes?: UserAttributes,
    options: PersonalizeOptions = {},
  ): Promise<Person> {
    this.checkNotPending();
    await this.tryFlushEvents(); // events queued so far belong to the person before
    const body: Record<string, unknown> = { userIdentity: identity };
    if (attributes && Object.keys(attributes).length > 0) body["userAttributes"] = attributes;
    const params: Record<string, string> = {};
    if (options.forceDepersonalize) params["forceDepersonalize"] = "true";
    if (options.setAsPrimary) params["setDeviceAsPrimary"] = "true";
    const person: Person = await this.mobile("POST", "/personalize", { json: body, params, user: true });
    await this.storeUser(person, identity);
    return person;
  }

  /** Reads the own person from the server (and keeps it). */
  async fetchUser(): Promise<Person> {
    this.checkNotPending();
    const person: Person = await this.mobile("GET", "/person", { user: true });
    await this.storeUser(person);
    return person;
  }

  /**
   * PATCHes the own person: standard attributes, identities, `customAttributes` (merged),
   * `tags`. With `sendAsOf`, the body carries `asOf` = when this method was called, so a
   * change that reaches the server late (retries, back-off) does not overwrite a newer one;
   * the answer's `ignoredFields` lists what the server kept.
   */
  async saveUser(fields: UserUpdate): Promise<Person> {
    const madeAt = new Date();
    this.checkNotPending();
    const json = this.sendAsOf ? { ...fields, asOf: isoformat(madeAt) } : fields;
    const person: Person = await this.mobile("PATCH", "/person", { json, user: true });
    await this.storeUser(person);
    return person;
  }

  /** Logs out: local user data goes at once; the server call is retried until confirmed. */
  async depersonalize(): Promise<DepersonalizeResult> {
    await this.store.update({ user: null, identity: null, pendingDepersonalize: true });
    try {
      await this.completeDepersonalize();
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
      this.wake();
      return DepersonalizeResult.PENDING;
    }
    return DepersonalizeResult.SUCCESS;
  }

  private completeDepersonalize(): Promise<void> {
    return this.flushLock.run(async () => {
      await this.sendQueued(); // events from before the logout go to the person logged out
      await this.callLock.run(async () => {
        if (!this.pendingDepersonalize) return;
        const installation: Installation = await this.mobileLocked("POST", "/depersonalize", {});
        await this.store.update({ installation, pendingDepersonalize: null });
      });
    });
  }

  // --- events --------------------------------------------------------------------------------

  /** Queues a custom event durably; answers its `eventId` once it is in storage. */
  async submitEvent(definitionId: string, properties?: EventProperties, date?: Date): Promise<string> {
    this.checkNotPending();
    return this.enqueue(definitionId, properties, date);
  }

  private async enqueue(definitionId: string, properties?: EventProperties, date?: Date): Promise<string> {
    const event = makeEvent(definitionId, properties, date);
    // every full batch's worth triggers one send (not every event while offline)
    if ((await this.store.enqueue(event)) % this.batchSize === 0) {
      if (this.flushIntervalMs !== null) this.wake();
      else await this.tryFlushEvents();
    }
    return event.eventId;
  }

  /** Sends one event now, validated; the server's error (e.g. `INVALID_EVENT`) is thrown. */
  async submitEventImmediately(
    definitionId: string,
    properties?: EventProperties,
    date?: Date,
  ): Promise<EventsAnswer> {
    this.checkNotPending();
    const event = makeEvent(definitionId, properties, date);
    return this.mobile("POST", "/events", { json: { events: [event] } });
  }

  /**
   * Queues an `AppLaunch` unless one was queued less than 30 s before (R7, also applied by the
   * server); answers whether it was queued. Skipped while a logout is pending.
   */
  async appLaunched(at?: Date): Promise<boolean> {
    const moment = new Date(at ?? Date.now()); // milliseconds, as the server compares
    if (this.pendingDepersonalize) return false;
    const last = this.store.get("lastLaunchAt");
    let latest = moment;
    if (last !== undefined) {
      const previous = new Date(last);
      const since = moment.getTime() - previous.getTime();
      if (since >= 0 && since <= LAUNCH_INTERVAL_MS) return false;
      if (previous > moment) latest = previous;
    }
    // applied in memory before the first await, so a second call right after sees it
    await this.store.update({ lastLaunchAt: isoformat(latest) });
    await this.enqueue(APP_LAUNCH, undefined, moment);
    return true;
  }

  /**
   * Reports that the push message `messageId` reached the device (issue 16's `PushDelivered`,
   * with `properties.messageId`). Queued like any event — also while a logout is pending, as
   * the message was meant for the user logged out. Answers the `eventId`.
   */
  reportPushDelivered(messageId: string): Promise<string> {
    return this.enqueue(PUSH_DELIVERED, { messageId });
  }

  /** Reports that the user opened the push message `messageId` (`PushOpened`); see {@link reportPushDelivered}. */
  reportPushOpened(messageId: string): Promise<string> {
    return this.enqueue(PUSH_OPENED, { messageId });
  }

  /**
   * Sends everything outstanding now: registration, queued events, a pending logout. Throws
   * `NetworkError` if the server cannot be reached (nothing is lost).
   */
  async flush(): Promise<void> {
    await this.ensureRegistered();
    await this.flushLock.run(() => this.sendQueued());
    if (this.pendingDepersonalize) await this.completeDepersonalize();
  }

  private async tryFlushEvents(): Promise<void> {
    try {
      await this.flushLock.run(() => this.sendQueued());
    } catch (error) {
      if (error instanceof NetworkError) this.wake();
      else if (error instanceof AudienceError) this.logger.warn(`audience: event queue not sent: ${error}`);
      else throw error;
    }
  }

  /** Sends the queue in batches; the caller holds `flushLock`. */
  private async sendQueued(): Promise<void> {
    let size = this.maxBatchSize;
    for (;;) {
      const batch = this.store.peek(size);
      if (batch.length === 0) return;
      const events = batch.map((entry) => entry.event);
      const lastSeq = batch[batch.length - 1]!.seq;
      let answer: EventsAnswer;
      try {
        answer = await this.mobile("POST", "/events", {
          json: { events },
          params: { validate: "false" },
        });
      } catch (error) {
        if (!(error instanceof AudienceError) || error.status !== 413) throw error;
        if (size === 1) {
          // one event larger than the server takes: it can never go
          this.logger.warn(`audience: event ${events[0]!.eventId} too large, dropped`);
          await this.store.remove(lastSeq);
        }
        size = Math.max(1, Math.floor(events.length / 2)); // halve what was refused
        continue;
      }
      for (const invalid of answer.invalid ?? []) {
        this.logger.warn(
          `audience: event ${events[invalid.index]?.eventId} dropped by the server: ${invalid.code} ${invalid.reason ?? ""}`,
        );
      }
      await this.store.remove(lastSeq);
    }
  }

  // --- background sender ---------------------------------------------------------------------

  /** Next background send in `delayMs`; none without a flush interval or after `close()`. */
  private schedule(delayMs: number): void {
    if (this.closed || this.flushIntervalMs === null) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.runTick(), delayMs);
    unref(this.timer);
  }

  /** A send now rather than at the next interval (a full batch, a logout to complete). */
  private wake(): void {
    if (this.tick) this.wakeAgain = true;
    else this.schedule(0);
  }

  /**
   * Background sender: every `flushIntervalMs`, or at once when woken; backs off
   * exponentially (with jitter, in the transport) while the server is unreachable.
   */
  private async runTick(): Promise<void> {
    let done = (): void => undefined;
    this.tick = new Promise<void>((resolve) => (done = resolve)); // what close() waits for
    try {
      if (this.hasWork()) {
        await this.flush();
        this.failures = 0;
      }
    } catch (error) {
      this.failures = Math.min(this.failures + 1, 16);
      const code = error instanceof AudienceError ? error.code : String(error);
      this.logger.info(`audience: background flush failed (${code}); retrying later`);
    } finally {
      this.tick = null;
      done();
    }
    const interval = this.flushIntervalMs ?? 0;
    const backoff = Math.min(this.maxFlushBackoffMs, interval * 2 ** this.failures);
    const delay = this.wakeAgain ? 0 : this.failures === 0 ? interval : backoff;
    this.wakeAgain = false;
    this.schedule(delay);
  }

  private hasWork(): boolean {
    return this.store.get("installation") === undefined || this.store.queued() > 0 || this.pendingDepersonalize;
  }

  // --- lifecycle -----------------------------------------------------------------------------

  /** Stops the background sender and tries a last flush; unsent events stay queued for the next start. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    await this.tick;
    try {
      if (this.hasWork()) await this.flush();
    } catch (error) {
      if (!(error instanceof AudienceError)) throw error;
      this.logger.warn(`audience: close: not everything was sent (${error.code}); kept for next start`);
    }
    await this.store.persist();
  }
}
