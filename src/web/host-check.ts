/**
 * Which requests the live page answers. The page binds 127.0.0.1, but that alone does not keep other web
 * sites out: a page the user visits can open `ws://127.0.0.1:8080/ws` (browsers send its Origin, and a
 * WebSocket is not bound by the same-origin policy), and through DNS rebinding a foreign name resolves to
 * 127.0.0.1 and reads the JSON API as "same origin" (the browser then sends that foreign name as Host).
 * So every request must name this machine in Host, and a browser request (one with an Origin) must come
 * from a page of this machine: 127.0.0.1, localhost, [::1] on any port, or a host name the user configured
 * (KLINESTREAM_PAGE_ALLOWED_HOSTS, for a page behind a reverse proxy or reached by the machine's name).
 */

export type RefusalReason = 'host' | 'origin';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** `name:port`, `[v6]:port`, `name` -> the host name, lower case, IPv6 in brackets; undefined if malformed. */
export function hostnameOf(hostHeader: string): string | undefined {
  const h = hostHeader.trim().toLowerCase();
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(?::(\d{1,5}))?$/.exec(h);
  if (!m) return undefined;
  if (m[2] !== undefined && Number(m[2]) > 65535) return undefined;
  return m[1];
}

export class HostCheck {
  private readonly allowed: Set<string>;

  /** `extra`: host names (no port) allowed besides the loopback ones, as configured. */
  constructor(extra: readonly string[] = []) {
    this.allowed = new Set([...LOOPBACK, ...extra.map((h) => h.toLowerCase())]);
  }

  allowsHostname(hostname: string): boolean {
    return this.allowed.has(hostname);
  }

  /**
   * Why the request must be refused, or undefined when it may be answered. A missing Host is refused (every
   * HTTP/1.1 client sends one); a missing Origin is not a browser page and is judged by Host alone; the
   * literal Origin `null` (sandboxed frames, file: pages) is refused.
   */
  refusal(host: string | undefined, origin: string | undefined): RefusalReason | undefined {
    const hostname = host === undefined ? undefined : hostnameOf(host);
    if (hostname === undefined || !this.allowsHostname(hostname)) return 'host';
    if (origin === undefined) return undefined;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return 'origin';
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'origin';
    return this.allowsHostname(url.hostname.toLowerCase()) ? undefined : 'origin';
  }
}
