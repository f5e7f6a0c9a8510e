// DOM helpers shared by every page: building elements from data as text only, links to routes built
// from encoded ids, badges, tables, times and sizes, and the error banner. Nothing here ever parses
// HTML: model names, paths and messages come from hostile files and must stay text.

// Attributes that cannot carry script or a URL; everything else (href above all) has its own helper.
const SAFE_ATTRS = new Set([
  'class', 'id', 'for', 'type', 'name', 'value', 'placeholder', 'autocomplete', 'role', 'tabindex',
  'scope', 'datetime', 'title', 'rows', 'lang', 'spellcheck', 'inputmode', 'maxlength', 'download',
  'hidden', 'disabled', 'required', 'selected', 'open', 'colspan', 'start', 'novalidate', 'multiple',
]);

// h('p', {class: 'x'}, 'text', child, [more]) builds an element; strings become text nodes.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, val] of Object.entries(attrs || {})) {
    if (val === null || val === undefined || val === false) continue;
    if (!SAFE_ATTRS.has(key) && !key.startsWith('aria-') && !key.startsWith('data-')) {
      throw new Error('unsafe attribute ' + key);
    }
    el.setAttribute(key, val === true ? '' : String(val));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
}

export function replace(el, ...children) {
  clear(el);
  append(el, children);
}

// '#/scans/<uuid>?x=y': every segment and query value is encoded, so data never shapes the URL.
export function routeHref(segments, query) {
  let href = '#/' + segments.map((s) => encodeURIComponent(String(s))).join('/');
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) if (v !== null && v !== undefined && v !== '') q.set(k, v);
  const qs = q.toString();
  return qs ? href + '?' + qs : href;
}

export function link(segments, query, attrs, ...children) {
  const a = h('a', attrs, ...children);
  a.setAttribute('href', routeHref(segments, query));
  return a;
}

// A link to an API path made of constant parts and encoded ids (the report download).
export function apiLink(parts, attrs, ...children) {
  const a = h('a', attrs, ...children);
  a.setAttribute('href', '/api/v1/' + parts.map((p) => encodeURIComponent(String(p))).join('/'));
  return a;
}

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const THREAT_RE = /^MG-[A-Z]{2,10}-[0-9]{3}$/;

// A link to a scan, model or threat page when the id has the expected shape, else plain text.
export function scanLink(uuid, ...children) {
  return typeof uuid === 'string' && UUID_RE.test(uuid)
    ? link(['scans', uuid], null, null, ...(children.length ? children : [shortId(uuid)]))
    : h('span', null, ...(children.length ? children : [uuid || '—']));
}

export function modelLink(uuid, ...children) {
  return typeof uuid === 'string' && UUID_RE.test(uuid)
    ? link(['models', uuid], null, null, ...children)
    : h('span', null, ...children);
}

export function threatLink(id) {
  if (typeof id !== 'string' || !THREAT_RE.test(id)) return h('span', null, id || '—');
  return link(['threats', id], null, {class: 'mono'}, id);
}

export function shortId(uuid) {
  return typeof uuid === 'string' ? uuid.slice(0, 8) : '—';
}

// Badges: the class comes from a fixed list, the text is the value itself (never colour alone).
const OUTCOMES = {ALLOWED: 'ok', BLOCKED: 'bad', ERROR: 'err', PENDING: 'wait'};
const SEVERITIES = {LOW: 'low', MEDIUM: 'medium', HIGH: 'high', CRITICAL: 'critical'};

export function outcomeBadge(outcome, attrs) {
  const cls = OUTCOMES[outcome] || 'unknown';
  const extra = attrs && attrs.class ? ' ' + attrs.class : '';
  return h('span', {...attrs, class: 'badge outcome-' + cls + extra}, outcome || 'unknown');
}

export function severityBadge(sev) {
  const cls = SEVERITIES[sev] || 'unknown';
  return h('span', {class: 'badge sev-' + cls}, sev || 'unknown');
}

const timeFmt = new Intl.DateTimeFormat(undefined, {
  year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  timeZoneName: 'short',
});

export function fmtTime(iso) {
  if (typeof iso !== 'string' || !iso) return h('span', null, '—');
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return h('span', null, iso);
  return h('time', {datetime: iso, title: iso}, timeFmt.format(d));
}

export function fmtBytes(n) {
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) return '—';
  if (n < 1024) return n + ' B';
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return v.toFixed(1) + ' ' + units[i] + ' (' + n + ' B)';
}

export function modelName(obj) {
  if (!obj) return '—';
  const ns = typeof obj.namespace === 'string' ? obj.namespace : '';
  const name = typeof obj.model_name === 'string' ? obj.model_name : '';
  if (!name) return obj.model_uri || '—';
  return ns ? ns + '/' + name : name;
}

// table({caption, columns: ['Model', ...], rows: [{testid, cells: [...]}]}): a table that scrolls on
// its own when wide and turns into label/value cards on a phone (td data-label feeds the CSS).
export function table({caption, columns, rows, empty, testid, stack = true}) {
  if (!rows.length) return h('p', {class: 'empty'}, empty || 'Nothing to show.');
  const head = h('tr', null, columns.map((c) => h('th', {scope: 'col'}, c)));
  const body = rows.map((r) =>
    h('tr', {'data-testid': r.testid}, r.cells.map((cell, i) => h('td', {'data-label': columns[i]}, cell))));
  return h('div', {class: 'table-wrap'},
    h('table', {class: stack ? 'cards' : null, 'data-testid': testid},
      caption ? h('caption', {class: 'visually-hidden'}, caption) : null,
      h('thead', null, head), h('tbody', null, body)));
}

// Definition list of label/value pairs for a page's facts.
export function facts(pairs) {
  return h('dl', {class: 'facts'},
    pairs.filter((p) => p).map(([k, v]) => h('div', null, h('dt', null, k), h('dd', null, v))));
}

export function code(text) {
  return h('code', {class: 'mono'}, text === null || text === undefined ? '—' : String(text));
}

// The top-level error banner; it exists only while there is an error to show.
export function showError(err) {
  const slot = document.getElementById('banner-slot');
  if (!slot) return;
  const msg = err instanceof Error ? err.message : String(err);
  const dismiss = h('button', {type: 'button', class: 'link-button'}, 'Dismiss');
  dismiss.addEventListener('click', clearError);
  replace(slot, h('div', {class: 'banner', role: 'alert', 'data-testid': 'error-banner'},
    h('span', null, msg), ' ', dismiss));
}

export function clearError() {
  const slot = document.getElementById('banner-slot');
  if (slot) clear(slot);
}

// Polite announcement for screen readers (saved, signed out, ...).
export function announce(text) {
  const el = document.getElementById('status');
  if (!el) return;
  el.textContent = '';
  setTimeout(() => { el.textContent = text; }, 50);
}

// Page heading; the router focuses it after navigation so keyboard and screen reader users land there.
export function heading(text) {
  return h('h1', {tabindex: '-1', class: 'page-title'}, text);
}

export function loading(title) {
  return [heading(title), h('p', {class: 'loading', 'aria-busy': 'true'}, 'Loading…')];
}

export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); reject(new DOMException('aborted', 'AbortError')); },
      {once: true});
  });
}
