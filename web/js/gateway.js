// #/gateway?outcome=&cursor=: the Hub gateway's recent decisions (GET /api/v1/gateway/decisions):
// repository, commit, path, outcome, caller and time, filterable by outcome and repository, in
// keyset pages.

import {api} from './api.js';
import {h, replace, heading, loading, link, scanLink, outcomeBadge, fmtTime, code, table, routeHref} from './dom.js';

const OUTCOMES = ['ALLOWED', 'BLOCKED', 'ERROR'];
// NS/NAME or a legacy NAME, as the server accepts it (anything else would be a 400)
const REPO = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,95}(\/[A-Za-z0-9_][A-Za-z0-9._-]{0,95})?$/;

export async function render(ctx) {
  const outcome = OUTCOMES.includes(ctx.query.get('outcome')) ? ctx.query.get('outcome') : '';
  const repo = REPO.test(ctx.query.get('repo') || '') ? ctx.query.get('repo') : '';
  const cursor = ctx.query.get('cursor') || '';
  replace(ctx.main, ...loading('Gateway'));
  const data = await api('GET', '/api/v1/gateway/decisions', {query: {outcome, repo, cursor, limit: 50}, signal: ctx.signal});
  const rows = (data.decisions || []).map((d) => ({
    testid: 'decision-row',
    cells: [
      fmtTime(d.created_at),
      h('span', null, code(d.repo), d.repo_type && d.repo_type !== 'model' ? h('span', {class: 'sub'}, ' (' + d.repo_type + ')') : null),
      h('span', null, d.commit ? h('code', {class: 'mono', title: String(d.commit)}, String(d.commit).slice(0, 12)) : '—',
        d.revision ? h('span', {class: 'sub'}, ' ', String(d.revision)) : null),
      d.path ? code(d.path) : h('span', {class: 'sub'}, String(d.action || '—')),
      h('span', null, outcomeBadge(d.outcome), d.reason ? h('span', {class: 'reason'}, String(d.reason)) : null),
      code(d.caller),
      d.scan_uuid ? scanLink(d.scan_uuid) : '—',
    ],
  }));
  replace(ctx.main, heading('Gateway decisions'), filter(outcome, repo),
    table({caption: 'Gateway decisions, newest first',
      columns: ['Time', 'Repository', 'Commit', 'Path', 'Outcome', 'Caller', 'Scan'], rows,
      empty: 'No decisions yet (is the gateway running?).'}),
    h('nav', {class: 'pager', 'aria-label': 'Pages'},
      cursor ? link(['gateway'], {outcome, repo}, {class: 'button'}, 'Newest') : null,
      data.next_cursor ? link(['gateway'], {outcome, repo, cursor: data.next_cursor}, {class: 'button'}, 'Next page') : null));
}

function filter(outcome, repo) {
  const sel = h('select', {id: 'g-outcome', name: 'outcome'},
    ['', ...OUTCOMES].map((o) => h('option', {value: o, selected: o === outcome}, o || 'Any')));
  const input = h('input', {id: 'g-repo', name: 'repo', type: 'text', value: repo, placeholder: 'namespace/name',
    'aria-describedby': 'g-repo-error'});
  const error = h('p', {id: 'g-repo-error', class: 'field-error', 'data-testid': 'field-error', hidden: true});
  const form = h('form', {class: 'filters', 'aria-label': 'Filter decisions'},
    h('div', {class: 'field'}, h('label', {for: 'g-outcome'}, 'Outcome'), sel),
    h('div', {class: 'field'}, h('label', {for: 'g-repo'}, 'Repository'), input, error),
    h('div', {class: 'actions'}, h('button', {type: 'submit', class: 'primary'}, 'Apply')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const r = input.value.trim();
    if (r && !REPO.test(r)) {
      error.textContent = 'A repository is namespace/name (letters, digits, . _ -), or a legacy one-part name.';
      error.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    location.hash = routeHref(['gateway'], {outcome: sel.value, repo: r});
  });
  return form;
}
