/**
 * Credentials written into a URL (`https://user:pass@registry.example.org/apis/ccompat/v7`, the form managed
 * registries print in their consoles) are taken out of it where the URL enters: the URL that is kept, logged,
 * shown by `status` and put into error messages has no user info, and the credentials become basic-auth
 * settings. `redactUrlText` is for the one place the raw text must be quoted (a URL that does not parse).
 */

export interface UrlCredentials {
  /** The URL without user info (and without trailing slashes). */
  url: string;
  /** Decoded user info, or undefined when the URL had none. */
  username: string | undefined;
  password: string | undefined;
}

/** Splits user info out of a parsable URL; `raw` must already be known to parse. */
export function splitUrlCredentials(raw: string): UrlCredentials {
  const url = new URL(raw);
  if (url.username === '' && url.password === '') return { url: raw.replace(/\/+$/, ''), username: undefined, password: undefined };
  const username = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  url.username = '';
  url.password = '';
  return { url: url.toString().replace(/\/+$/, ''), username, password };
}

/** `scheme://anything@rest` -> `scheme://***@rest`, for quoting text that may hold user info. */
export function redactUrlText(raw: string): string {
  return raw.replace(/(\/\/)[^/?#]*@/g, '$1***@');
}
