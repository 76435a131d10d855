// The console's only way to the platform: the public API, with the API key
// the person signed in with. The key lives in sessionStorage (gone when the
// tab closes) and travels only in the Authorization header.

const KEY = 'mailferry.apiKey';
const WHO = 'mailferry.who';

export function session() {
  const key = sessionStorage.getItem(KEY);
  if (!key) return null;
  let who = {};
  try { who = JSON.parse(sessionStorage.getItem(WHO) || '{}'); } catch { who = {}; }
  return { key, who };
}

export function signOut() {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(WHO);
}

// ApiError carries the API's coded error: code, cause, action, field, and
// whatever else the answer held (rowErrors, blocked, run).
export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.cause || `the request failed with HTTP ${status}`);
    this.status = status;
    this.code = e.code || 'http_' + status;
    this.cause = e.cause || this.message;
    this.action = e.action || '';
    this.field = e.field || '';
    this.body = body || {};
  }
  // text is what a person reads: what went wrong and what to do.
  get text() {
    return this.action ? `${this.cause}. ${capital(this.action)}.`.replace(/\.\./g, '.') : this.cause;
  }
}

function capital(s) { return s ? s[0].toUpperCase() + s.slice(1) : s; }

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

// request calls the API. body: an object (JSON), a string (sent as CSV) or
// undefined. opts.key overrides the session's key (sign-in, operator key).
export async function request(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json' };
  const key = opts.key || (session() || {}).key;
  if (key) headers.Authorization = 'Bearer ' + key;
  let payload;
  if (typeof body === 'string') {
    headers['Content-Type'] = 'text/csv';
    payload = body;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  Object.assign(headers, opts.headers || {});
  let res;
  try {
    res = await fetch(path, { method, headers, body: payload, signal: opts.signal, cache: 'no-store' });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, { error: { code: 'network', cause: 'mailferry cannot be reached', action: 'check your connection and that the service is running, then try again' } });
  }
  if (opts.raw && res.ok) return res;
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { text }; }
  }
  if (!res.ok) {
    const err = new ApiError(res.status, data);
    if (res.status === 401 && !opts.key) onUnauthorized(err);
    throw err;
  }
  return data;
}

export const get = (path, opts) => request('GET', path, undefined, opts);
export const post = (path, body, opts) => request('POST', path, body, opts);
export const put = (path, body, opts) => request('PUT', path, body, opts);
export const patch = (path, body, opts) => request('PATCH', path, body, opts);
export const del = (path, opts) => request('DELETE', path, undefined, opts);

// signIn checks a key and keeps it for the tab's session.
export async function signIn(key) {
  const who = await request('GET', '/api/account', undefined, { key });
  sessionStorage.setItem(KEY, key);
  sessionStorage.setItem(WHO, JSON.stringify(who));
  return who;
}

// download saves an API answer (CSV) as a file, with the key in the header
// rather than in a link anyone could copy.
export async function download(path, fallbackName) {
  const res = await request('GET', path, undefined, { raw: true });
  const blob = await res.blob();
  let name = fallbackName;
  const cd = res.headers.get('Content-Disposition') || '';
  const m = /filename="?([^";]+)"?/.exec(cd);
  if (m) name = m[1];
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return { name, size: blob.size };
}

// qs builds a query string from the set values of an object.
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '' && v !== false) u.set(k, String(v));
  }
  const s = u.toString();
  return s ? '?' + s : '';
}

// stream follows a server-sent event stream over fetch (EventSource cannot
// send the Authorization header). handlers: {event name: fn(data)},
// plus onState(state) with 'live', 'reconnecting' or 'closed'. It
// reconnects after a drop until closed.
export function stream(path, handlers) {
  let closed = false;
  let ctrl = null;
  let retry = 2000;
  const state = (s) => handlers.onState && handlers.onState(s);
  async function once() {
    ctrl = new AbortController();
    const key = (session() || {}).key;
    const res = await fetch(path, { headers: { Authorization: 'Bearer ' + key, Accept: 'text/event-stream' }, signal: ctrl.signal, cache: 'no-store' });
    if (!res.ok) {
      let body = null;
      try { body = await res.json(); } catch { body = null; }
      const err = new ApiError(res.status, body);
      if (res.status === 401) onUnauthorized(err);
      throw err;
    }
    state('live');
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let name = 'message';
        const data = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) name = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
          else if (line.startsWith('retry:')) retry = parseInt(line.slice(6), 10) || retry;
        }
        if (!data.length) continue;
        let parsed;
        try { parsed = JSON.parse(data.join('\n')); } catch { continue; }
        const fn = handlers[name];
        if (fn) fn(parsed);
      }
    }
  }
  (async () => {
    while (!closed) {
      try {
        await once();
      } catch (err) {
        if (closed || err.name === 'AbortError') break;
        if (err instanceof ApiError && err.status >= 400 && err.status < 500) {
          if (handlers.onError) handlers.onError(err);
          break;
        }
      }
      if (closed) break;
      state('reconnecting');
      await new Promise((r) => setTimeout(r, retry));
    }
    state('closed');
  })();
  return {
    close() {
      closed = true;
      if (ctrl) ctrl.abort();
    },
  };
}

// seg encodes one path segment. '@' stays as it is: the API reads a
// mailbox address in the path as written (chi does not decode %40).
export function seg(s) {
  return encodeURIComponent(s).replace(/%40/g, '@');
}
