/**
 * The Audience SDK for React Native and the web: one {@link MobileClient} per app install.
 *
 * ```ts
 * import { MobileClient, asyncStorageAdapter } from "@audience/sdk";
 * const sdk = await MobileClient.create({ baseUrl, applicationCode, storage: asyncStorageAdapter(AsyncStorage) });
 * await sdk.personalize({ externalUserId: "ann" });
 * await sdk.submitEvent("purchase", { amount: 42.5 });
 * ```
 * @module
 */

export {
  APP_LAUNCH,
  DepersonalizeResult,
  LAUNCH_INTERVAL_MS,
  MAX_BATCH,
  MobileClient,
  PUSH_DELIVERED,
  PUSH_OPENED,
  type Logger,
  type MobileClientOptions,
  type PersonalizeOptions,
  type UserTokenProvider,
} from "./client.js";
export {
  ApiError,
  AudienceError,
  BadRequestError,
  ConflictError,
  DEPERSONALIZATION_IN_PROGRESS,
  DepersonalizationInProgressError,
  ForbiddenError,
  GoneError,
  NETWORK_ERROR,
  NetworkError,
  NotFoundError,
  RateLimitedError,
  ServerError,
  UnauthorizedError,
  errorFromResponse,
} from "./errors.js";
export {
  MemoryStorage,
  asyncStorageAdapter,
  localStorageAdapter,
  type AsyncStorageLike,
  type StorageAdapter,
  type SyncKeyValueStore,
} from "./storage.js";
export {
  DEFAULT_RETRY,
  SDK_VERSION,
  parseRetryAfter,
  retryDelay,
  type FetchInit,
  type FetchLike,
  type FetchResponse,
  type RetryPolicy,
} from "./transport.js";
export type {
  CustomAttributes,
  EventProperties,
  EventsAnswer,
  Installation,
  InstallationSummary,
  InstallationUpdate,
  InvalidEvent,
  JsonValue,
  Person,
  Platform,
  PushServiceType,
  QueuedEvent,
  SystemData,
  UserAttributes,
  UserIdentity,
  UserUpdate,
} from "./types.js";
