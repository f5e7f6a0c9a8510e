// #/threats?q=: the threat catalog (GET /api/v1/threats) with a filter on id, title, severity and
// policy; each id links to the threat's page.

import {api} from './api.js';
import {h, replace, heading, loading, threatLink, severityBadge, table} from './dom.js';

export async function render(ctx) {
  replace(ctx.main, ...loading('Threats'));
  const data = await api('GET', '/api/v1/threats', {signal: ctx.signal});
  const all = Array.isArray(data.threats) ? data.threats : [];
  const input = h('input', {id: 't-filter', type: 'search', value: ctx.query.get('q') || '', spellcheck: 'false',
    placeholder: 'MG-PKL, pickle, CRITICAL…'});
  const count = h('p', {class: 'sub', role: 'status'});
  const slot = h('div');
  const update = () => {
    const q = input.value.trim().toLowerCase();
    const shown = all.filter((t) => !q || [t.id, t.title, t.severity, t.policy].some((x) =>
      String(x || '').toLowerCase().includes(q)));
    count.textContent = shown.length + ' of ' + all.length + ' threats';
    replace(slot, table({
      caption: 'Threat catalog',
      columns: ['Id', 'Severity', 'Title', 'Policy'],
      empty: 'No threat matches.',
      rows: shown.map((t) => ({
        testid: 'threat-row',
        cells: [threatLink(t.id), severityBadge(t.severity), String(t.title || ''), String(t.policy || '')],
      })),
    }));
  };
  input.addEventListener('input', update);
  replace(ctx.main, heading('Threats'),
    h('form', {class: 'filters', role: 'search'},
      h('div', {class: 'field'}, h('label', {for: 't-filter'}, 'Filter'), input)),
    count, slot);
  input.form.addEventListener('submit', (ev) => ev.preventDefault());
  update();
}
