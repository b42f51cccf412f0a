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

/** A server process that can be stopped and started again on the same port and database. */
export class AudienceServer {
  readonly folder: string;
  readonly databaseUrl: string;
  readonly baseUrl: string;
  private process: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly env: Record<string, string>,
  ) {
    this.folder = mkdtempSync(join(tmpdir(), "audience-sdk-ts-"));
    this.databaseUrl = `sqlite:///${join(this.folder, "audience.db")}`;
    this.baseUrl = `http://127.0.0.1:${port}`;
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
    const exited = new Promise<never>((_, reject) =>
      this.process!.once("exit", (code) =>
        reject(new Error(`audience serve exited (${code}): ${readFileSync(log, "utf8").slice(-2000)}`)),
      ),
    );
    exited.catch(() => undefined);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      try {
        const answer = await Promise.race([fetch(`${this.baseUrl}/healthz`), exited]);
        if (answer.status === 200) return;
      } catch (error) {
        if (this.process.exitCode !== null) throw error;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error("audience serve did not start within 30 s");
  }

  /** Stops the process (SIGTERM, as the Python tests do) and waits for it. */
  async stop(): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (!child || child.exitCode !== null) return;
    const done = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await done;
  }

  /** Stops the server and removes its database. */
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.folder, { recursive: true, force: true });
  }
}
