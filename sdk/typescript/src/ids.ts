/**
 * Client event ids and timestamps.
 * @module
 */

interface CryptoLike {
  randomUUID?: () => string;
  getRandomValues?: (array: Uint8Array) => Uint8Array;
}

/**
 * A random UUID v4: `crypto.randomUUID` where there is one (browsers in secure contexts,
 * Node), else `crypto.getRandomValues` (React Native with `react-native-get-random-values`),
 * else `Math.random` — enough here, as an `eventId` only has to be unique per installation.
 */
export function uuid4(): string {
  const crypto = (globalThis as { crypto?: CryptoLike }).crypto;
  if (crypto?.randomUUID) return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  if (crypto?.getRandomValues) crypto.getRandomValues(bytes);
  else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** UTC, millisecond precision, `Z` — the server's own format. */
export function isoformat(moment: Date): string {
  return moment.toISOString();
}
