/**
 * The SDK's local state on a {@link StorageAdapter}: one JSON document for the state (so a
 * change of several keys is one write) and the durable event queue in chunks of
 * {@link CHUNK} events (so queueing one event rewrites one small chunk, not the whole queue).
 *
 * Everything is mirrored in memory and written through with *group commit*: changes made while
 * a write is running are written together by the next one, so a burst of `submitEvent` calls
 * costs a handful of storage writes. Writes happen in order; the queue's metadata is written
 * before its chunks, so a crash mid-write can only lose events whose `submitEvent` had not
 * resolved yet, or keep events the server already has (resent, then de-duplicated by their
 * `eventId`).
 * @module
 */

import type { Installation, Person, QueuedEvent, UserIdentity } from "./types.js";
import type { StorageAdapter } from "./storage.js";

/** Events per storage key of the queue. */
export const CHUNK = 100;

/** What the SDK remembers about its installation (the Python client's state keys). */
export interface LocalState {
  installation?: Installation;
  /** What to register with (again): the first system data plus every saved change. */
  registration?: Record<string, unknown>;
  identity?: UserIdentity;
  user?: Person;
  pendingDepersonalize?: boolean;
  lastLaunchAt?: string;
}

/** A change of {@link LocalState}: `null` deletes a key. */
export type StateChange = { [K in keyof LocalState]?: LocalState[K] | null };

/** A queued event with its place in the queue. */
export interface QueueEntry {
  seq: number;
  event: QueuedEvent;
}

interface QueueMeta {
  /** Lowest sequence number possibly still queued. */
  head: number;
  /** Sequence number of the next event. */
  next: number;
}

/** One key prefix per application, so one storage can serve several apps' clients. */
export function namespaceOf(applicationCode: string): string {
  // cyrb53: a short, stable, non-cryptographic digest (the code itself need not be a key name)
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < applicationCode.length; i++) {
    const ch = applicationCode.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(16).padStart(14, "0");
}

export class LocalStore {
  private state: LocalState = {};
  private readonly chunks = new Map<number, QueueEntry[]>();
  private meta: QueueMeta = { head: 0, next: 0 };
  private count = 0;
  private dirtyState = false;
  private dirtyMeta = false;
  private readonly dirtyChunks = new Set<number>();
  private readonly droppedChunks = new Set<number>();
  private writing: Promise<void> = Promise.resolve();
  private scheduled: Promise<void> | null = null;

  private constructor(
    private readonly adapter: StorageAdapter,
    private readonly prefix: string,
  ) {}

  /** Reads the state and the queue of `namespace` from `adapter`. */
  static async open(adapter: StorageAdapter, namespace: string): Promise<LocalStore> {
    const store = new LocalStore(adapter, `audience:${namespace}:`);
    await store.load();
    return store;
  }

  private async load(): Promise<void> {
    this.state = parse<LocalState>(await this.adapter.getItem(this.prefix + "state")) ?? {};
    const meta = parse<QueueMeta>(await this.adapter.getItem(this.prefix + "q"));
    if (!meta) return;
    let next = meta.next;
    for (let c = Math.floor(meta.head / CHUNK); c <= Math.floor((meta.next - 1) / CHUNK); c++) {
      const entries = (parse<QueueEntry[]>(await this.adapter.getItem(this.chunkKey(c))) ?? []).filter(
        (entry) => entry.seq >= meta.head,
      );
      if (entries.length === 0) continue;
      this.chunks.set(c, entries);
      this.count += entries.length;
      next = Math.max(next, entries[entries.length - 1]!.seq + 1);
    }
    this.meta = { head: meta.head, next };
  }

  private chunkKey(chunk: number): string {
    return `${this.prefix}q:${chunk}`;
  }

  // --- state -----------------------------------------------------------------------------

  get<K extends keyof LocalState>(key: K): LocalState[K] {
    return this.state[key];
  }

  /** Applies `change` in memory at once (so later reads see it) and writes it durably. */
  update(change: StateChange): Promise<void> {
    const next: Record<string, unknown> = { ...this.state };
    for (const [key, value] of Object.entries(change)) {
      if (value === null || value === undefined) delete next[key];
      else next[key] = value;
    }
    this.state = next as LocalState;
    this.dirtyState = true;
    return this.persist();
  }

  // --- queue -----------------------------------------------------------------------------

  /** Queues one event durably; answers the queue length. */
  async enqueue(event: QueuedEvent): Promise<number> {
    const seq = this.meta.next++;
    const chunk = Math.floor(seq / CHUNK);
    const entries = this.chunks.get(chunk);
    if (entries) entries.push({ seq, event });
    else this.chunks.set(chunk, [{ seq, event }]);
    const length = ++this.count;
    this.dirtyMeta = true;
    this.dirtyChunks.add(chunk);
    this.droppedChunks.delete(chunk); // the tail chunk may have been emptied and dropped
    await this.persist();
    return length;
  }

  /** The oldest `limit` queued events. */
  peek(limit: number): QueueEntry[] {
    const batch: QueueEntry[] = [];
    for (const entries of this.chunks.values()) {
      for (const entry of entries) {
        if (batch.length >= limit) return batch;
        batch.push(entry);
      }
    }
    return batch;
  }

  /** Drops the events up to and including `upToSeq` (a batch the server took). */
  remove(upToSeq: number): Promise<void> {
    for (const [chunk, entries] of this.chunks) {
      if (entries[entries.length - 1]!.seq <= upToSeq) {
        this.chunks.delete(chunk);
        this.count -= entries.length;
        this.dirtyChunks.delete(chunk);
        this.droppedChunks.add(chunk);
        continue;
      }
      const kept = entries.filter((entry) => entry.seq > upToSeq);
      if (kept.length !== entries.length) {
        this.count -= entries.length - kept.length;
        this.chunks.set(chunk, kept);
        this.dirtyChunks.add(chunk);
      }
      break;
    }
    this.meta.head = Math.max(this.meta.head, upToSeq + 1);
    this.dirtyMeta = true;
    return this.persist();
  }

  queued(): number {
    return this.count;
  }

  // --- writing ---------------------------------------------------------------------------

  /** Resolves once everything changed so far is in storage (group commit). */
  persist(): Promise<void> {
    if (this.scheduled) return this.scheduled;
    const run = this.writing.then(() => {
      this.scheduled = null; // changes from now on go with the next write
      return this.writeDirty();
    });
    this.scheduled = run;
    this.writing = run.catch(() => undefined);
    return run;
  }

  private async writeDirty(): Promise<void> {
    const state = this.dirtyState;
    const meta = this.dirtyMeta;
    const chunks = [...this.dirtyChunks];
    const dropped = [...this.droppedChunks];
    this.dirtyState = this.dirtyMeta = false;
    this.dirtyChunks.clear();
    this.droppedChunks.clear();
    try {
      if (meta) await this.adapter.setItem(this.prefix + "q", JSON.stringify(this.meta));
      for (const chunk of chunks) {
        const entries = this.chunks.get(chunk);
        if (entries && entries.length > 0) {
          await this.adapter.setItem(this.chunkKey(chunk), JSON.stringify(entries));
        } else {
          await this.adapter.removeItem(this.chunkKey(chunk));
        }
      }
      for (const chunk of dropped) await this.adapter.removeItem(this.chunkKey(chunk));
      if (state) await this.adapter.setItem(this.prefix + "state", JSON.stringify(this.state));
    } catch (error) {
      // not written: try again with the next write
      this.dirtyState ||= state;
      this.dirtyMeta ||= meta;
      for (const chunk of chunks) this.dirtyChunks.add(chunk);
      for (const chunk of dropped) this.droppedChunks.add(chunk);
      throw error;
    }
  }
}

function parse<T>(raw: string | null): T | undefined {
  if (raw === null) return undefined;
  try {
    return JSON.parse(raw) as T;
  } catch {
    return undefined; // a damaged entry is treated as absent rather than blocking the app
  }
}
