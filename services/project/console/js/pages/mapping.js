// Step 4: the mapping. Suggested pairs with how each was matched, the
// exceptions first; inline override, exclude, flag for creation, bulk
// edits of the selected rows, and the whole mapping as CSV both ways.
// Filtering and paging happen on the server, so a project of tens of
// thousands of mailboxes shows a page as fast as one of ten.

import { get, patch, put, qs, download, ApiError } from '../api.js';
import { h, clear, num, notice, pager, errorText, debounce, field, add } from '../dom.js';

const METHODS = {
  primary: 'same primary address', alias: 'alias', localpart: 'same name before @', displayname: 'same display name',
  manual: 'set by hand', csv: 'from a CSV file',
};
const ACTIONS = [['migrate', 'Migrate'], ['exclude', 'Exclude'], ['create', 'Create at destination']];

export async function render(ctx, project) {
  const state = {
    filter: ctx.query.get('filter') || '', exceptionsOnly: ctx.query.get('exceptions') === '1', action: '',
    offset: 0, limit: 100,
  };
  const selected = new Set();
  let page = { entries: [], total: 0, exceptions: 0 };
  let loadSeq = 0;
  let rowErrors = {}; // source address -> message
  let drafts = {}; // source address -> the refused edit, kept in its row to fix

  const message = h('div', { 'aria-live': 'polite', dataset: { testid: 'mapping-message' } });
  const summary = h('div');
  const tableBox = h('div');
  const filter = h('input', { type: 'search', name: 'filter', value: state.filter, placeholder: 'Address or name, either side', 'aria-label': 'Filter the mapping', dataset: { filter: '' } });
  const excOnly = h('input', { type: 'checkbox', name: 'exceptionsOnly', checked: state.exceptionsOnly });
  const actionSel = h('select', { name: 'action', 'aria-label': 'Show action' }, h('option', { value: '' }, 'Any action'), ACTIONS.map(([v, t]) => h('option', { value: v }, t)));
  const sizeSel = h('select', { name: 'limit', 'aria-label': 'Rows per page' }, [50, 100, 250, 500].map((n) => h('option', { value: n, selected: n === state.limit }, `${n} per page`)));
  const pagerBox = h('div');
  const reload = debounce(() => { state.offset = 0; load(); }, 250);
  filter.addEventListener('input', () => { state.filter = filter.value.trim(); reload(); });
  filter.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); reload.now(); } });
  excOnly.addEventListener('change', () => { state.exceptionsOnly = excOnly.checked; state.offset = 0; load(); });
  actionSel.addEventListener('change', () => { state.action = actionSel.value; state.offset = 0; load(); });
  sizeSel.addEventListener('change', () => { state.limit = +sizeSel.value; state.offset = 0; load(); });

  // Bulk edits of the selected rows.
  const domain = h('input', { type: 'text', name: 'createDomain', placeholder: 'destination domain', 'aria-label': 'Domain for mailboxes to create', size: 18 });
  const bulkInfo = h('span', { class: 'count', dataset: { testid: 'selected' } }, 'none selected');
  const bulkBtn = (action, text) => h('button', { type: 'button', dataset: { bulk: action }, onclick: () => bulk(action) }, text);
  const bulkBar = h('div', { class: 'toolbar', role: 'group', 'aria-label': 'Edit the selected mailboxes' },
    bulkInfo, bulkBtn('exclude', 'Exclude'), bulkBtn('migrate', 'Migrate'), bulkBtn('create', 'Flag for creation'), h('label', { class: 'choice small' }, 'at ', domain),
    h('button', { type: 'button', class: 'link', onclick: () => { selected.clear(); drawTable(); } }, 'Clear selection'));

  async function bulk(action) {
    if (!selected.size) {
      message.replaceChildren(notice('warn', 'Select mailboxes first: tick their boxes, or the box in the header for the whole page.'));
      return;
    }
    const bySource = new Map(page.entries.map((e) => [e.source.primaryAddress, e]));
    const edits = [...selected].map((src) => {
      const e = bySource.get(src);
      let dst = (e && e.destination && e.destination.primaryAddress) || '';
      if (action === 'create' && (!dst || (e && e.exception)) && domain.value.trim()) dst = src.split('@')[0] + '@' + domain.value.trim().replace(/^@/, '');
      const ed = { source: src, action };
      if (dst) ed.destination = dst;
      return ed;
    });
    await save(edits, `${edits.length} mailbox${edits.length === 1 ? '' : 'es'} set to ${action}.`);
  }

  async function save(edits, okText) {
    clear(message);
    rowErrors = {};
    drafts = {};
    try {
      const res = await patch(`/api/projects/${project.id}/mapping`, { edits });
      if (res && res.state === 'pending') add(message, notice('info', 'The change is still being applied; the table shows it in a moment.'));
      else add(message, notice('ok', okText));
      selected.clear();
      await load();
    } catch (err) {
      if (err instanceof ApiError && err.body.rowErrors) {
        for (const re of err.body.rowErrors) {
          const ed = edits[re.row - 1];
          if (ed) { rowErrors[ed.source] = re.message; drafts[ed.source] = ed; }
        }
        add(message, notice('bad', err.text));
        drawTable();
        const first = tableBox.querySelector('tr.row-error');
        if (first) first.scrollIntoView({ block: 'center' });
      } else {
        add(message, notice('bad', errorText(err)));
      }
    }
  }

  async function load() {
    const seq = ++loadSeq;
    const started = performance.now();
    let res;
    try {
      res = await get(`/api/projects/${project.id}/mapping` + qs({
        exceptionsOnly: state.exceptionsOnly ? 'true' : '', filter: state.filter, action: state.action, offset: state.offset, limit: state.limit,
      }));
    } catch (err) {
      if (seq !== loadSeq) return;
      clear(tableBox).append(err.code === 'not_found' ? notice('info', 'The mapping is suggested when a discovery completes. ', h('a', { href: `#/p/${project.id}/discovery` }, 'Run discovery'), ' first.') : notice('bad', errorText(err)));
      return;
    }
    if (seq !== loadSeq || ctx.stale()) return;
    page = res;
    if (!domain.value) {
      const withDst = res.entries.find((e) => e.destination && e.destination.primaryAddress);
      if (withDst) domain.value = withDst.destination.primaryAddress.split('@')[1] || '';
    }
    drawSummary();
    drawTable(started);
  }

  function drawSummary() {
    clear(summary).append(page.exceptions
      ? notice('warn', h('strong', { dataset: { testid: 'exceptions-count' } }, `${num(page.exceptions)} exception${page.exceptions === 1 ? '' : 's'}`), ' need a decision: choose a destination, exclude the mailbox, or flag it for creation. They are listed first.')
      : notice('ok', h('span', { dataset: { testid: 'exceptions-count' } }, 'No exceptions'), ': every mailbox has a destination or a decision.'));
  }

  function row(e) {
    const src = e.source.primaryAddress;
    const listId = 'cand-' + btoa(unescape(encodeURIComponent(src))).replace(/[^a-z0-9]/gi, '');
    const draft = drafts[src];
    const dstInput = h('input', { type: 'text', name: 'destination', value: draft ? draft.destination || '' : (e.destination && e.destination.primaryAddress) || '', list: (e.candidates || []).length ? listId : undefined, 'aria-label': `Destination for ${src}`, autocomplete: 'off' });
    const actSel = h('select', { name: 'rowAction', 'aria-label': `Action for ${src}` }, ACTIONS.map(([v, t]) => h('option', { value: v, selected: v === (draft ? draft.action : e.action) }, t)));
    const saveBtn = h('button', { type: 'button', disabled: true, dataset: { testid: 'row-save' } }, 'Save');
    const changed = () => {
      saveBtn.disabled = dstInput.value.trim() === ((e.destination && e.destination.primaryAddress) || '') && actSel.value === e.action;
    };
    const doSave = () => {
      const ed = { source: src, action: actSel.value };
      if (dstInput.value.trim()) ed.destination = dstInput.value.trim();
      save([ed], `${src}: saved.`);
    };
    if (draft) changed();
    dstInput.addEventListener('input', changed);
    dstInput.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' && !saveBtn.disabled) { ev.preventDefault(); doSave(); } });
    actSel.addEventListener('change', changed);
    saveBtn.addEventListener('click', doSave);
    const box = h('input', { type: 'checkbox', checked: selected.has(src), 'aria-label': `Select ${src}`, onchange: (ev) => { if (ev.target.checked) selected.add(src); else selected.delete(src); updateBulk(); } });
    const tr = h('tr', { class: e.exception ? 'exception' : '', dataset: { source: src } },
      h('td', null, box),
      h('td', null, src, h('div', { class: 'muted small' }, e.source.displayName || '')),
      h('td', null, e.method ? METHODS[e.method] || e.method : '–'),
      h('td', null, dstInput, (e.candidates || []).length ? h('datalist', { id: listId }, e.candidates.map((c) => h('option', { value: c.primaryAddress }, c.displayName || ''))) : null),
      h('td', null, actSel),
      h('td', null, e.exception ? [h('span', { class: 'badge warn' }, e.exception === 'no_match' ? 'no match' : e.exception), ' ', h('span', { class: 'small' }, e.detail || '')] : h('span', { class: 'badge ok' }, 'resolved')),
      h('td', null, saveBtn));
    const out = [tr];
    if (rowErrors[src]) {
      tr.classList.add('has-error');
      dstInput.setAttribute('aria-invalid', 'true');
      out.push(h('tr', { class: 'row-error', role: 'alert' }, h('td', { colspan: 7 }, '↑ ' + rowErrors[src])));
    }
    return out;
  }

  function updateBulk() {
    bulkInfo.textContent = selected.size ? `${num(selected.size)} selected` : 'none selected';
    const all = tableBox.querySelector('input[data-select-all]');
    if (all) {
      const onPage = page.entries.filter((e) => selected.has(e.source.primaryAddress)).length;
      all.checked = onPage > 0 && onPage === page.entries.length;
      all.indeterminate = onPage > 0 && onPage < page.entries.length;
    }
  }

  function drawTable(started) {
    const selectAll = h('input', { type: 'checkbox', 'aria-label': 'Select every mailbox on this page', dataset: { selectAll: '' }, onchange: (ev) => {
      for (const e of page.entries) { if (ev.target.checked) selected.add(e.source.primaryAddress); else selected.delete(e.source.primaryAddress); }
      for (const b of tableBox.querySelectorAll('tbody input[type=checkbox]')) b.checked = ev.target.checked;
      updateBulk();
    } });
    const table = h('table', { dataset: { testid: 'mapping-table', total: String(page.total), offset: String(state.offset) } },
      h('thead', null, h('tr', null, h('th', null, selectAll), h('th', null, 'Source mailbox'), h('th', null, 'How matched'), h('th', null, 'Destination'), h('th', null, 'Action'), h('th', null, 'Status'), h('th', null, ''))),
      h('tbody', null, page.entries.length ? page.entries.map(row) : h('tr', null, h('td', { colspan: 7 }, 'No mailbox matches.'))));
    clear(pagerBox).append(pager(state.offset, state.limit, page.total, (o) => { state.offset = o; load(); }));
    clear(tableBox).append(h('div', { class: 'table-wrap' }, table));
    updateBulk();
    if (started !== undefined) {
      // The time from asking to a drawn page, read by the browser test's
      // measurement of a 10,000-mailbox project.
      table.dataset.loadMs = String(Math.round(performance.now() - started));
    }
  }

  // CSV both ways: export the whole mapping, import a whole file (all rows
  // or none) with the errors listed by row.
  const csvOut = h('div', { 'aria-live': 'polite', dataset: { testid: 'csv-result' } });
  const csvFile = h('input', { type: 'file', name: 'csv', accept: '.csv,text/csv' });
  const csvForm = h('form', { novalidate: true, class: 'row', dataset: { testid: 'csv-form' } },
    field('Import a mapping CSV (source,destination,action)', csvFile, 'Replaces the mapping as a whole; if any row is wrong, nothing changes and the rows are listed.'),
    h('button', { type: 'submit' }, 'Import CSV'),
    h('button', { type: 'button', dataset: { testid: 'export-csv' }, onclick: async () => {
      try {
        const f = await download(`/api/projects/${project.id}/mapping.csv`, `mapping-${project.id}.csv`);
        csvOut.replaceChildren(notice('ok', `Downloaded ${f.name}.`));
      } catch (err) { csvOut.replaceChildren(notice('bad', errorText(err))); }
    } }, 'Export CSV'));
  csvForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const err = csvForm.querySelector('.field-error');
    err.textContent = '';
    csvFile.removeAttribute('aria-invalid');
    clear(csvOut);
    const f = csvFile.files[0];
    if (!f) {
      err.textContent = 'Choose a CSV file first (export one to see the format).';
      csvFile.setAttribute('aria-invalid', 'true');
      csvFile.focus();
      return;
    }
    try {
      await put(`/api/projects/${project.id}/mapping.csv`, await f.text());
      add(csvOut, notice('ok', `Imported ${f.name}.`));
      csvFile.value = '';
      load();
    } catch (e2) {
      if (e2 instanceof ApiError && e2.body.rowErrors) {
        add(csvOut, notice('bad', e2.text), h('div', { class: 'table-wrap' }, h('table', { dataset: { testid: 'csv-errors' } },
          h('thead', null, h('tr', null, h('th', { class: 'num' }, 'Row'), h('th', null, 'Column'), h('th', null, 'Problem'))),
          h('tbody', null, e2.body.rowErrors.map((r) => h('tr', null, h('td', { class: 'num' }, r.row), h('td', null, r.column || '–'), h('td', null, r.message)))))));
      } else if (e2 instanceof ApiError && e2.field === 'csv') {
        err.textContent = e2.text;
        csvFile.setAttribute('aria-invalid', 'true');
      } else {
        add(csvOut, notice('bad', errorText(e2)));
      }
    }
  });

  add(ctx.main, summary, message,
    h('div', { class: 'toolbar' }, filter, h('label', { class: 'choice' }, excOnly, 'Exceptions only'), actionSel, sizeSel, h('span', { class: 'spacer' }), pagerBox),
    bulkBar, tableBox,
    h('h2', null, 'CSV'), h('div', { class: 'panel' }, csvForm, csvOut),
    h('div', { class: 'row' }, h('a', { class: 'button primary', href: `#/p/${project.id}/credits` }, 'Continue to credits')));
  await load();
}
