/** The server API calls the tests need (an app never holds an API key, so the SDK has none). */

import { createHmac, randomUUID } from "node:crypto";
import { ADMIN_KEY } from "./server.js";

export class Admin {
  constructor(
    readonly baseUrl: string,
    private readonly key: string = ADMIN_KEY,
  ) {}

  async call(method: string, path: string, body?: unknown): Promise<any> {
    const response = await fetch(this.baseUrl + path, {
      method,
      headers: { Authorization: `App ${this.key}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (response.status >= 400) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  /** Every item of a list, following `nextCursor`. */
  async all(path: string): Promise<any[]> {
    const items: any[] = [];
    let cursor: string | null = null;
    do {
      const sep = path.includes("?") ? "&" : "?";
      const page: any = await this.call("GET", `${path}${sep}limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      items.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return items;
  }

  /** A new app (unique name), with the definitions the tests use (created once per server). */
  async createApp(requireUserJwt = false): Promise<{ applicationCode: string; jwtSecret: string; id: string }> {
    await this.defineOnce("POST", "/v1/event-definitions", { id: "purchase", properties: { amount: "number", sku: "string" } });
    await this.defineOnce("POST", "/v1/attribute-definitions", { name: "plan", type: "string", scope: "person" });
    await this.defineOnce("POST", "/v1/attribute-definitions", { name: "darkMode", type: "boolean", scope: "installation" });
    return this.call("POST", "/v1/apps", { name: `Shop ${randomUUID()}`, requireUserJwt });
  }

  private async defineOnce(method: string, path: string, body: unknown): Promise<void> {
    try {
      await this.call(method, path, body);
    } catch (error) {
      if (!String(error).includes(" 409 ")) throw error;
    }
  }

  events(personId: string, definitionId = "purchase"): Promise<any[]> {
    return this.all(`/v1/persons/${personId}/events?definitionId=${definitionId}`);
  }

  personInstallations(personId: string): Promise<any[]> {
    return this.all(`/v1/persons/${personId}/installations`);
  }
}

/** A unique external user id, so tests sharing one server never meet. */
export function uniqueUser(name: string): string {
  return `${name}-${randomUUID().slice(0, 8)}`;
}

/** An HS256 user JWT as an app's backend would issue it (SPEC §6). */
export function userJwt(secret: string, sub: string, lifetimeSeconds = 300): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const head = encode({ alg: "HS256", typ: "JWT" });
  const body = encode({ sub, iat: now, exp: now + lifetimeSeconds, jti: randomUUID() });
  const signature = createHmac("sha256", secret).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${signature}`;
}
