// #/overview: what happened lately (GET /api/v1/overview): scans of the last day and week by outcome,
// the newest BLOCKED models with the policies that blocked them, the queue, the rules and policy in
// force, and the gateway's decisions of the last day.

import {api} from './api.js';
import {h, replace, heading, loading, link, scanLink, modelLink, outcomeBadge, fmtTime, facts, code, table,
  modelName} from './dom.js';

const OUTCOMES = ['ALLOWED', 'BLOCKED', 'ERROR', 'PENDING'];

// {segments, query} of the page someone asked for before signing in, shown once as a link.
let continueTo = null;

export function offerContinue(target) {
  continueTo = target;
}

function continueNotice() {
  const t = continueTo;
  continueTo = null;
  if (!t) return null;
  return h('p', {class: 'notice'}, 'Signed in. ',
    link(t.segments, Object.fromEntries(t.query), null, 'Continue to the page you asked for'),
    ' (#/' + t.segments.join('/') + ').');
}

export async function render(ctx) {
  const notice = continueNotice();
  replace(ctx.main, ...loading('Overview'));
  const o = await api('GET', '/api/v1/overview', {signal: ctx.signal});
  const scans = o.scans || {};
  const gw = (o.gateway && o.gateway.last_day) || {};

  replace(ctx.main, heading('Overview'), notice,
    h('section', {'aria-labelledby': 'ov-scans'},
      h('h2', {id: 'ov-scans'}, 'Scans'),
      countsTable(scans, ['last_day', 'last_week'])),
    h('section', {'aria-labelledby': 'ov-blocked'},
      h('h2', {id: 'ov-blocked'}, 'Latest blocked models'),
      blockedTable(o.latest_blocked || [])),
    h('div', {class: 'grid-2'},
      h('section', {'aria-labelledby': 'ov-service'},
        h('h2', {id: 'ov-service'}, 'Service'),
        facts([
          ['Queue', queueText(o.queue)],
          ['Rules version', code(o.rules_version)],
          ['Scanner version', code(o.scanner_version)],
          ['Policy', o.policy ? h('span', null, 'version ' + o.policy.version + ' ', code(o.policy.digest)) : '—'],
        ])),
      h('section', {'aria-labelledby': 'ov-gateway'},
        h('h2', {id: 'ov-gateway'}, 'Gateway, last 24 hours'),
        facts(['ALLOWED', 'BLOCKED', 'ERROR'].map((k) => [k, gatewayCount(k, gw[k])])))));
}

// Rows are outcomes, columns the periods; each count links to the matching scans list.
function countsTable(scans, periods) {
  const labels = {last_day: 'Last 24 hours', last_week: 'Last 7 days'};
  const rows = OUTCOMES.map((k) => ({
    cells: [outcomeBadge(k), ...periods.map((p) => countCell(scans[p], k, p))],
  }));
  return table({caption: 'Scans by outcome', columns: ['Outcome', ...periods.map((p) => labels[p])], rows, stack: false});
}

function countCell(period, outcome, which) {
  const n = period && Number.isFinite(period[outcome]) ? period[outcome] : 0;
  const since = new Date(Date.now() - (which === 'last_day' ? 1 : 7) * 86400000).toISOString();
  return link(['scans'], {outcome, since}, {'aria-label': n + ' ' + outcome + ' scans'}, String(n));
}

function gatewayCount(outcome, n) {
  return String(Number.isFinite(n) ? n : 0);
}

function queueText(q) {
  if (!q) return '—';
  return q.depth + ' waiting (capacity ' + q.capacity + '), ' + q.running + ' running';
}

function blockedTable(items) {
  return table({
    caption: 'Latest blocked models',
    columns: ['Model', 'Blocked by', 'Scan', 'Time'],
    empty: 'No blocked scans.',
    rows: items.map((b) => ({
      cells: [
        h('div', null, h('div', null, b.model_uuid ? modelLink(b.model_uuid, modelName(b)) : modelName(b)),
          h('div', {class: 'sub'}, code(b.model_uri))),
        Array.isArray(b.policies) && b.policies.length
          ? h('ul', {class: 'plain'}, b.policies.map((p) => h('li', null, String(p))))
          : '—',
        scanLink(b.uuid),
        fmtTime(b.created_at),
      ],
    })),
  });
}
