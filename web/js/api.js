// The one place that talks to the service: fetch with the session cookie, the CSRF header on every
// state-changing request, JSON in and out, errors as ApiError, and the session itself (sign in and
// out, the role, expiry). A 401 anywhere hands control to the router, which shows #/signin.

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

let session = null; // {role, csrf_token, expires_at} while signed in
let onUnauthorized = () => {};

export function getSession() {
  return session;
}

export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

function validSession(body) {
  return body && typeof body.role === 'string' && typeof body.csrf_token === 'string' ? body : null;
}

// api('GET', '/api/v1/scans', {query: {outcome: 'BLOCKED'}}). Paths are constants joined with ids the
// caller encoded; query values go through URLSearchParams.
export async function api(method, path, opts = {}) {
  const headers = {Accept: 'application/json'};
  let body;
  if (opts.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts.text !== undefined) {
    headers['Content-Type'] = opts.contentType || 'text/plain';
    body = opts.text;
  }
  if (method !== 'GET' && method !== 'HEAD' && session) headers['X-CSRF-Token'] = session.csrf_token;
  let url = path;
  if (opts.query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query)) if (v !== null && v !== undefined && v !== '') q.set(k, v);
    if (q.toString()) url += '?' + q.toString();
  }
  let resp;
  try {
    resp = await fetch(url, {method, headers, body, credentials: 'same-origin', signal: opts.signal,
      cache: 'no-store', redirect: 'error'});
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'The service cannot be reached (' + e.message + ').', null);
  }
  const data = await readBody(resp);
  if (resp.status === 401 && !opts.noRedirect) {
    session = null;
    onUnauthorized();
  }
  if (!resp.ok) throw new ApiError(resp.status, errorText(resp, data), data);
  return data;
}

async function readBody(resp) {
  if (resp.status === 204) return null;
  const type = resp.headers.get('Content-Type') || '';
  const text = await resp.text();
  if (!type.includes('json')) return {text};
  try {
    return JSON.parse(text);
  } catch {
    return {text};
  }
}

function errorText(resp, data) {
  const why = data && typeof data.error === 'string' ? data.error : resp.statusText || 'request failed';
  let msg = 'HTTP ' + resp.status + ': ' + why;
  const retry = resp.headers.get('Retry-After');
  if (resp.status === 429 && retry) msg += ' (retry after ' + retry + ' s)';
  return msg;
}

// The session the cookie belongs to, or null when there is none (401).
export async function loadSession() {
  try {
    session = validSession(await api('GET', '/api/v1/session', {noRedirect: true}));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) session = null;
    else throw e;
  }
  return session;
}

export async function signIn(token) {
  session = null;
  session = validSession(await api('POST', '/api/v1/session', {json: {token}, noRedirect: true}));
  if (!session) throw new ApiError(0, 'The service answered the sign-in without a session.', null);
  return session;
}

export async function signOut() {
  try {
    await api('DELETE', '/api/v1/session', {noRedirect: true});
  } finally {
    session = null;
  }
}

export function forgetSession() {
  session = null;
}

export function isAdmin() {
  return session?.role === 'admin';
}

export function canScan() {
  return session?.role === 'admin' || session?.role === 'scanner';
}
