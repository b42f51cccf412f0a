/**
 * A real `audience serve` for the tests: the worktree's `.venv/bin/audience` (or
 * `$AUDIENCE_BIN`) on a SQLite file in a temporary folder.
 */

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const AUDIENCE_BIN = process.env["AUDIENCE_BIN"] ?? resolve(PACKAGE_ROOT, "../../.venv/bin/audience");
export const ADMIN_KEY = "ak_sdk-typescript-tests";

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** How a test process finds a server the runner started for it to stop and start again. */
export interface ServerHandle {
  port: number;
  folder: string;
  pid: number;
}

/** A server process that can be stopped and started again on the same port and database. */
export class AudienceServer {
  readonly folder: string;
  readonly databaseUrl: string;
  readonly baseUrl: string;
  private process: ChildProcess | undefined;
  /** A process started by another (the runner): stopped by its pid. */
  private adoptedPid: number | undefined;

  private constructor(
    readonly port: number,
    private readonly env: Record<string, string>,
    folder?: string,
  ) {
    this.folder = folder ?? mkdtempSync(join(tmpdir(), "audience-sdk-ts-"));
    this.databaseUrl = `sqlite:///${join(this.folder, "audience.db")}`;
    this.baseUrl = `http://127.0.0.1:${port}`;
  }

  /** The runner's spare server (`$AUDIENCE_TEST_SPARE`), started alongside the shared one to save a start. */
  static adopt(handle: ServerHandle): AudienceServer {
    const server = new AudienceServer(handle.port, {}, handle.folder);
    server.adoptedPid = handle.pid;
    return server;
  }

  handle(): ServerHandle {
    return { port: this.port, folder: this.folder, pid: this.process?.pid ?? 0 };
  }

  static async start(env: Record<string, string> = {}, port?: number): Promise<AudienceServer> {
    const server = new AudienceServer(port ?? (await freePort()), env);
    await server.start();
    return server;
  }

  async start(): Promise<void> {
    const log = join(this.folder, "server.log");
    const stderr = openSync(log, "a"); // a file: an undrained pipe would block a chatty server
    this.process = spawn(AUDIENCE_BIN, ["serve", "--port", String(this.port), "--workers", "1"], {
      env: {
        ...process.env,
        AUDIENCE_DATABASE_URL: this.databaseUrl,
        AUDIENCE_ADMIN_KEY: ADMIN_KEY,
        AUDIENCE_SEGMENT_SWEEP_SECONDS: "0",
        ...this.env,
      },
      stdio: ["ignore", "ignore", stderr],
    });
    const child = this.process;
    // never leave a server behind, whatever ends this process (`audience serve` execs uvicorn,
    // so the pid is the server's)
    const reap = () => child.kill("SIGTERM");
    process.once("exit", reap);
    child.once("exit", () => process.removeListener("exit", reap));
    const exited = new Promise<never>((_, reject) =>
      this.process!.once("exit", (code) =>
        reject(new Error(`audience serve exited (${code}): ${readFileSync(log, "utf8").slice(-2000)}`)),
      ),
    );
    exited.catch(() => undefined);
    // generous: Python's imports alone take seconds on a loaded 2-core machine
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      try {
        const answer = await Promise.race([fetch(`${this.baseUrl}/healthz`), exited]);
        if (answer.status === 200) return;
      } catch (error) {
        if (this.process.exitCode !== null) throw error;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await this.stop();
    throw new Error("audience serve did not start within 120 s");
  }

  /** Stops the process (SIGTERM, as the Python tests do) and waits for it. */
  async stop(): Promise<void> {
    if (this.adoptedPid !== undefined) {
      const pid = this.adoptedPid;
      this.adoptedPid = undefined;
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        return; // already gone
      }
      await this.untilDown();
      return;
    }
    const child = this.process;
    this.process = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return; // already gone
    const done = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await done;
  }

  private async untilDown(): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      try {
        await fetch(`${this.baseUrl}/healthz`, { headers: { Connection: "close" } });
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error("audience serve did not stop within 30 s");
  }

  /** Stops the server and removes its database. */
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.folder, { recursive: true, force: true });
  }
}
