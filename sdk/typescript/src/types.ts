/**
 * Shapes of what the SDK sends and what the server answers (SPEC §2, §3, §7), camelCase as on
 * the wire. Answers are the server's JSON objects as sent: a field the server adds later is
 * kept, only not typed here.
 * @module
 */

/** A JSON value as the server stores it. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Custom attributes: names must be defined on the server first (SPEC §4); `null` deletes. */
export type CustomAttributes = Record<string, JsonValue>;

/** `Android` or `iOS`; a web app registers as one of the two (see the README). */
export type Platform = "Android" | "iOS";

/** The push provider that issued a device's token. */
export type PushServiceType = "Firebase" | "APNS" | "HMS";

/** Installation fields an app sends (SPEC §2), at registration and in updates. */
export interface SystemData {
  sdkVersion?: string | null;
  osVersion?: string | null;
  deviceManufacturer?: string | null;
  deviceModel?: string | null;
  applicationVersion?: string | null;
  appVersion?: string | null;
  /** BCP 47, e.g. `en-GB`. */
  osLanguage?: string | null;
  /** Minutes from UTC. */
  deviceTimezoneOffset?: number | null;
  deviceName?: string | null;
  pushServiceType?: PushServiceType | null;
  pushServiceToken?: string | null;
  pushRegistrationEnabled?: boolean;
  registrationsEnabled?: boolean;
  notificationsEnabled?: boolean | null;
  geofencingEnabled?: boolean | null;
  deviceSecure?: boolean | null;
}

/** What {@link MobileClient.saveInstallation} may change: system data, primary flag, custom attributes. */
export interface InstallationUpdate extends SystemData {
  platform?: Platform;
  isPrimaryDevice?: boolean;
  customAttributes?: CustomAttributes;
}

/** An installation as the server answers it. */
export interface Installation extends SystemData {
  pushRegistrationId: string;
  applicationCode?: string;
  platform: Platform;
  personId: string;
  isPrimaryDevice: boolean;
  customAttributes: CustomAttributes;
  createdAt: string;
  updatedAt: string;
  uninstalledAt?: string | null;
  [field: string]: unknown;
}

/** The identity a user logs in with (R2): at least one of the three. */
export interface UserIdentity {
  externalUserId?: string;
  phones?: string[];
  emails?: string[];
}

/** Standard person attributes (SPEC §3). */
export interface UserAttributes {
  firstName?: string | null;
  lastName?: string | null;
  middleName?: string | null;
  gender?: "Male" | "Female" | null;
  /** `YYYY-MM-DD`. */
  birthday?: string | null;
  customAttributes?: CustomAttributes;
}

/** What {@link MobileClient.saveUser} may change: attributes, identities and tags. */
export interface UserUpdate extends UserAttributes, UserIdentity {
  /** The whole tag set, or `{add, remove}` changes. */
  tags?: string[] | { add?: string[]; remove?: string[] };
}

/** A summary of one of a person's installations, as carried by {@link Person}. */
export interface InstallationSummary {
  pushRegistrationId: string;
  platform: Platform;
  isPrimaryDevice: boolean;
  [field: string]: unknown;
}

/** A person as the server answers it. */
export interface Person {
  id: string;
  type: "ANONYMOUS" | "IDENTIFIED";
  externalUserId: string | null;
  phones: string[];
  emails: string[];
  firstName?: string | null;
  lastName?: string | null;
  middleName?: string | null;
  gender?: "Male" | "Female" | null;
  birthday?: string | null;
  tags: string[];
  customAttributes: CustomAttributes;
  installations: InstallationSummary[];
  createdAt: string;
  updatedAt: string;
  /** Fields a person update with `asOf` left alone because they changed later (SPEC §14). */
  ignoredFields?: string[];
  [field: string]: unknown;
}

/** Properties of a custom event, typed by its definition on the server. */
export type EventProperties = Record<string, string | number | boolean>;

/** One event as the SDK queues and sends it. */
export interface QueuedEvent {
  definitionId: string;
  /** Client id (a UUID): the server stores each `eventId` of an installation once. */
  eventId: string;
  /** When it happened (client clock), ISO 8601 UTC with milliseconds. */
  date: string;
  properties?: EventProperties;
}

/** An event the server left out of a `?validate=false` batch, and why. */
export interface InvalidEvent {
  index: number;
  code: string;
  field?: string;
  reason?: string;
}

/** The answer of the mobile events call. */
export interface EventsAnswer {
  accepted: number;
  duplicates: number;
  /** AppLaunch events within 30 s of the previous one (R7). */
  dropped: number;
  /** Only with `?validate=false`. */
  invalid?: InvalidEvent[];
}
