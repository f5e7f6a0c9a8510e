// #/models?cursor=: every model that has a finished scan (GET /api/v1/models), newest first, in
// keyset pages; each links to its page with the verdict history.

import {api} from './api.js';
import {h, replace, heading, loading, link, modelLink, fmtTime, code, table, modelName} from './dom.js';

export async function render(ctx) {
  const cursor = ctx.query.get('cursor') || '';
  replace(ctx.main, ...loading('Models'));
  const data = await api('GET', '/api/v1/models', {query: {limit: 50, cursor}, signal: ctx.signal});
  const rows = (data.models || []).map((m) => ({
    testid: 'model-row',
    cells: [modelLink(m.uuid, modelName(m)), code(m.model_uri), fmtTime(m.created_at), fmtTime(m.updated_at)],
  }));
  replace(ctx.main, heading('Models'),
    table({caption: 'Models, newest first', columns: ['Model', 'Source', 'First scanned', 'Last scanned'], rows,
      empty: 'No model has been scanned yet.'}),
    h('nav', {class: 'pager', 'aria-label': 'Pages'},
      cursor ? link(['models'], null, {class: 'button'}, 'Newest') : null,
      data.next_cursor ? link(['models'], {cursor: data.next_cursor}, {class: 'button'}, 'Next page') : null));
}
