// The REST client: every call carries the session's bearer token; an expired one is refreshed
// once and the call retried; errors arrive as `ApiError` with the platform's code and message.

export interface Tokens {
  access_token: string;
  refresh_token: string;
  /** ns since the epoch, as every `_ts` of the API. */
  access_expires_ts: number;
  refresh_expires_ts: number;
  mfa: boolean;
  second_factor: "proved" | "required" | "enrollment_required";
}

export interface Claims {
  sub: string;
  acct: string;
  role: string;
  scopes: string[];
  mfa: boolean;
  exp: number;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly field: string | null = null,
  ) {
    super(message);
  }

  /** What a person is shown: the platform's reason, with the field it names. */
  get reason(): string {
    return this.field ? `${this.message} (${this.field})` : this.message;
  }
}

const REQUEST_TIMEOUT_MS = 10_000;
const STORAGE_KEY = "tradingfloor.session";

export function claimsOf(token: string): Claims {
  const part = token.split(".")[1] ?? "";
  const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
  return JSON.parse(json) as Claims;
}

type Listener = () => void;

/** The signed-in session: tokens kept in this tab's session storage, refreshed before they
 * expire; `onEnd` is told when the session ends (logout, or a refresh refused). */
export class Session {
  tokens: Tokens | null = null;
  username = "";
  private refreshTimer: number | undefined;
  private refreshing: Promise<boolean> | null = null;
  private endListeners: Listener[] = [];
  private changeListeners: Listener[] = [];

  constructor() {
    const stored = sessionStorage.getItem(STORAGE_KEY);
    if (stored) {
      try {
        const saved = JSON.parse(stored) as { tokens: Tokens; username: string };
        if (saved.tokens.refresh_expires_ts / 1e6 > Date.now()) {
          this.tokens = saved.tokens;
          this.username = saved.username;
          this.schedule();
        }
      } catch {
        sessionStorage.removeItem(STORAGE_KEY);
      }
    }
  }

  get claims(): Claims | null {
    return this.tokens ? claimsOf(this.tokens.access_token) : null;
  }

  get active(): boolean {
    return this.tokens !== null && this.tokens.mfa;
  }

  get isAdmin(): boolean {
    return this.claims?.role === "admin";
  }

  onEnd(listener: Listener): void {
    this.endListeners.push(listener);
  }

  onChange(listener: Listener): void {
    this.changeListeners.push(listener);
  }

  set(tokens: Tokens, username = this.username): void {
    this.tokens = tokens;
    this.username = username;
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ tokens, username }));
    this.schedule();
    for (const listener of this.changeListeners) listener();
  }

  end(): void {
    this.tokens = null;
    window.clearTimeout(this.refreshTimer);
    sessionStorage.removeItem(STORAGE_KEY);
    for (const listener of this.endListeners) listener();
  }

  /** A new access token from the refresh token; false when the session is over. */
  refresh(): Promise<boolean> {
    if (this.refreshing) return this.refreshing;
    const tokens = this.tokens;
    if (!tokens) return Promise.resolve(false);
    this.refreshing = (async () => {
      try {
        const fresh = await send<Tokens>("POST", "/v1/auth/refresh", null, {
          refresh_token: tokens.refresh_token,
        });
        this.set(fresh);
        return true;
      } catch (error) {
        if (error instanceof ApiError && error.status >= 500) return false; // try again later
        this.end();
        return false;
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  private schedule(): void {
    window.clearTimeout(this.refreshTimer);
    if (!this.tokens) return;
    // A minute before the access token expires (at least 5 s from now; a timer's delay is at
    // most 2^31 - 1 ms).
    const due = this.tokens.access_expires_ts / 1e6 - Date.now() - 60_000;
    const delay = Math.min(2 ** 31 - 1, Math.max(5_000, due));
    this.refreshTimer = window.setTimeout(() => void this.refresh(), delay);
  }
}

async function send<T>(
  method: string,
  path: string,
  token: string | null,
  body?: unknown,
): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const controller = new AbortController();
  const timer = window.setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: controller.signal,
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, 0, "the platform cannot be reached");
  } finally {
    window.clearTimeout(timer);
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!response.ok) {
    throw errorOf(response.status, parsed);
  }
  return parsed as T;
}

function errorOf(status: number, body: unknown): ApiError {
  if (body && typeof body === "object") {
    const error = body as { code?: number; message?: string; field?: string; detail?: unknown };
    if (typeof error.message === "string") {
      return new ApiError(status, error.code ?? 0, error.message, error.field ?? null);
    }
  }
  return new ApiError(status, 0, `HTTP ${status}`);
}

/** Calls on behalf of the session. */
export class Api {
  constructor(readonly session: Session) {}

  get<T>(path: string): Promise<T> {
    return this.call<T>("GET", path);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.call<T>("POST", path, body ?? {});
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>("PATCH", path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.call<T>("DELETE", path);
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const token = this.session.tokens?.access_token ?? null;
    try {
      return await send<T>(method, path, token, body);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401 && token && (await this.session.refresh())) {
        return send<T>(method, path, this.session.tokens?.access_token ?? null, body);
      }
      throw error;
    }
  }

  /** Sign-in calls, made before there is a session (or with a half-open one). */
  static signIn<T>(path: string, body: unknown, token: string | null = null): Promise<T> {
    return send<T>("POST", path, token, body);
  }
}
