/**
 * Typed errors of the SDK; each carries the server's machine code (SPEC §6).
 *
 * Match on the class (`err instanceof ConflictError`) or on `err.code`
 * (`"USER_MERGE_INTERRUPTED"`), whichever reads better at the call site.
 * @module
 */

/** Code of {@link NetworkError}. */
export const NETWORK_ERROR = "NETWORK_ERROR";
/** Code of {@link DepersonalizationInProgressError}. */
export const DEPERSONALIZATION_IN_PROGRESS = "DEPERSONALIZATION_IN_PROGRESS";

/** Base of every error the SDK throws. */
export class AudienceError extends Error {
  /** The server's machine code (`VALIDATION_ERROR`, `USER_MERGE_INTERRUPTED`, ...) or the SDK's own. */
  readonly code: string;
  /** HTTP status of the answer; `undefined` when no answer came (network, local checks). */
  readonly status: number | undefined;
  /** The request field the server blamed, e.g. `events.0.properties.amount`. */
  readonly field: string | undefined;

  constructor(code: string, message: string, status?: number, field?: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.field = field;
  }

  /** `ConflictError [USER_MERGE_INTERRUPTED]: <message>` (with the field when there is one). */
  override toString(): string {
    const field = this.field ? ` (field ${this.field})` : "";
    return `${this.name} [${this.code}]: ${this.message}${field}`;
  }
}

/** The server could not be reached (or kept timing out) after every retry. */
export class NetworkError extends AudienceError {
  constructor(message: string) {
    super(NETWORK_ERROR, message);
  }
}

/** A depersonalize is pending (offline); user calls wait until the server confirms it. */
export class DepersonalizationInProgressError extends AudienceError {
  constructor() {
    super(
      DEPERSONALIZATION_IN_PROGRESS,
      "A depersonalization is pending; retry once it has reached the server",
    );
  }
}

/** The server answered with an error body. */
export class ApiError extends AudienceError {}
/** 400: `VALIDATION_ERROR`, `INVALID_EVENT`, `PHONE_INVALID`, `USER_IDENTITY_INVALID`, ... */
export class BadRequestError extends ApiError {}
/** 401: wrong application code or user JWT. */
export class UnauthorizedError extends ApiError {}
/** 403: the credential may not do this. */
export class ForbiddenError extends ApiError {}
/** 404: `NO_REGISTRATION`, `PERSON_NOT_FOUND`, `NOT_FOUND`. */
export class NotFoundError extends ApiError {}
/** 409: `USER_MERGE_INTERRUPTED`, `PERSONALIZATION_IMPOSSIBLE`, `AMBIGUOUS_PERSONALIZE_CANDIDATES`, ... */
export class ConflictError extends ApiError {}
/** 410: `INSTALLATION_UNINSTALLED`. */
export class GoneError extends ApiError {}
/** 429, after every retry. */
export class RateLimitedError extends ApiError {}
/** 5xx, after every retry. */
export class ServerError extends ApiError {}

const BY_STATUS: Record<number, typeof ApiError> = {
  400: BadRequestError,
  401: UnauthorizedError,
  403: ForbiddenError,
  404: NotFoundError,
  409: ConflictError,
  410: GoneError,
  429: RateLimitedError,
};

/** The typed error for a non-2xx answer; a body without the SPEC §6 shape still gets a code. */
export function errorFromResponse(status: number, body: unknown): ApiError {
  const outer = isObject(body) ? body["error"] : undefined;
  const error = isObject(outer) ? outer : {};
  const code = typeof error["code"] === "string" && error["code"] ? error["code"] : `HTTP_${status}`;
  const message =
    typeof error["message"] === "string" && error["message"]
      ? error["message"]
      : `HTTP status ${status}`;
  const field = typeof error["field"] === "string" ? error["field"] : undefined;
  const Cls = BY_STATUS[status] ?? (status >= 500 ? ServerError : ApiError);
  return new Cls(code, message, status, field);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
