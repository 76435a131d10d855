// One mailbox of a run: its progress, rate, items per minute, health and
// ETA, refreshed every two seconds while it runs, and its chronological
// log, filterable by level and time.

import { get, qs, seg, ApiError } from '../api.js';
import { h, clear, num, bytes, duration, notice, pager, errorText, stateBadge, healthBadge, when, field, clearErrors, setFieldError, dl, add } from '../dom.js';
import { load, header } from './wizard.js';

export async function render(ctx) {
  const { project, runs } = await load(ctx.params.id);
  if (ctx.stale()) return;
  const { runId, sourceId } = ctx.params;
  const detail = h('div', { 'aria-live': 'off', dataset: { testid: 'mailbox-detail' } });
  const logBox = h('div', { dataset: { testid: 'mailbox-log' } });
  const logView = { level: ctx.query.get('level') || '', from: '', to: '', offset: 0, limit: 100, thisRun: true };
  let mb = null;

  async function loadDetail() {
    try {
      mb = await get(`/api/runs/${runId}/mailboxes/${seg(sourceId)}`);
    } catch (err) {
      clear(detail).append(notice(err.code === 'not_found' ? 'info' : 'bad', errorText(err)));
      return;
    }
    if (ctx.stale()) return;
    clear(detail).append(
      h('h2', null, mb.sourceAddress || mb.sourceId),
      h('div', { class: 'row' }, stateBadge(mb.state), healthBadge(mb.health, mb.healthReason), h('span', { class: 'small' }, mb.healthReason || '')),
      dl([
        ['Items', `${num(mb.items)}${mb.totalItems ? ' of ' + num(mb.totalItems) : ''}${mb.failedItems ? ` (${num(mb.failedItems)} failed)` : ''}`],
        ['Data', bytes(mb.bytes)],
        ['Transfer rate', mb.state === 'running' ? bytes(mb.bytesPerSecond) + '/s' : '–'],
        ['Items per minute', mb.state === 'running' ? num(Math.round(mb.itemsPerMinute)) : '–'],
        ['ETA', mb.state === 'running' ? duration(mb.etaSeconds) : '–'],
        ['Folder', mb.folder || '–'], ['Worker', mb.worker || '–'],
        ['Started', when(mb.startedAt)], ['Finished', when(mb.finishedAt)],
        mb.final ? ['Outcome', Object.entries(mb.final).map(([k, v]) => `${k} ${num(v)}`).join(', ')] : null,
        mb.error ? ['Error', `${mb.error.code}: ${mb.error.cause}${mb.error.action ? '. ' + mb.error.action : ''}`] : null,
      ]));
  }

  const form = h('form', { novalidate: true, class: 'toolbar', dataset: { testid: 'log-filter' } },
    field('Level at least', h('select', { name: 'level' }, [['', 'All'], ['info', 'Info'], ['warning', 'Warning'], ['error', 'Error']].map(([v, t]) => h('option', { value: v, selected: v === logView.level }, t)))),
    field('From (your time)', h('input', { type: 'datetime-local', name: 'from', step: 1 })),
    field('To', h('input', { type: 'datetime-local', name: 'to', step: 1 })),
    h('label', { class: 'choice' }, h('input', { type: 'checkbox', name: 'thisRun', checked: true }), 'This run only'),
    h('button', { type: 'submit' }, 'Apply'),
    h('p', { class: 'form-error', role: 'alert' }));
  form.addEventListener('change', (e) => { if (e.target.name === 'level' || e.target.name === 'thisRun') form.requestSubmit(); });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clearErrors(form);
    const iso = (name) => {
      const v = form.elements[name].value;
      if (!v) return '';
      const d = new Date(v);
      if (isNaN(d)) { setFieldError(form, name, 'Enter a date and time, or leave it empty.'); return null; }
      return d.toISOString();
    };
    const from = iso('from');
    const to = iso('to');
    if (from === null || to === null) return;
    if (from && to && from >= to) {
      setFieldError(form, 'to', 'The end must be after the start.');
      form.elements.to.focus();
      return;
    }
    Object.assign(logView, { level: form.elements.level.value, from, to, thisRun: form.elements.thisRun.checked, offset: 0 });
    loadLog();
  });

  // empty: the log had nothing yet (its projection trails the run by a
  // moment), so it is asked again even once the mailbox has ended.
  let empty = true;
  async function loadLog() {
    let page;
    const mailbox = (mb && mb.sourceAddress) || sourceId;
    try {
      page = await get(`/api/projects/${project.id}/mailboxes/${seg(mailbox)}/log` + qs({
        runId: logView.thisRun ? runId : '', level: logView.level, from: logView.from, to: logView.to, offset: logView.offset, limit: logView.limit,
      }));
    } catch (err) {
      if (err instanceof ApiError && err.field && form.elements[err.field]) { setFieldError(form, err.field, err.text); return; }
      clear(logBox).append(notice(err.code === 'not_found' ? 'info' : 'bad', err.code === 'not_found' ? 'No log lines for this mailbox yet.' : errorText(err)));
      empty = true;
      return;
    }
    if (ctx.stale()) return;
    empty = page.total === 0;
    clear(logBox).append(
      h('div', { class: 'toolbar' }, h('span', { class: 'spacer' }), pager(logView.offset, logView.limit, page.total, (o) => { logView.offset = o; loadLog(); }, 'lines')),
      h('div', { class: 'table-wrap' }, h('table', { dataset: { testid: 'log-lines', total: String(page.total) } },
        h('thead', null, h('tr', null, ['Time', 'Level', 'What', 'Message', 'Code', 'What to do'].map((c) => h('th', null, c)))),
        h('tbody', null, page.lines.length ? page.lines.map((l) => h('tr', { dataset: { kind: l.kind, level: l.level } },
          h('td', null, when(l.at)), h('td', { class: 'log-level-' + l.level }, l.level), h('td', null, l.kind),
          h('td', null, l.message, l.cause ? h('div', { class: 'small' }, l.cause) : null, l.retryAfterMs ? h('div', { class: 'small' }, `asked to wait ${duration(l.retryAfterMs / 1000)}`) : null),
          h('td', null, l.code || ''), h('td', null, l.action || ''))) : h('tr', null, h('td', { colspan: 6 }, 'No line matches.'))))));
  }

  add(ctx.main, ...header(ctx, project, runs, 'launch'),
    h('p', null, h('a', { href: `#/p/${project.id}/track/${runId}` }, '‹ Back to the run')),
    detail, h('h2', null, 'Log'), form, logBox);
  await loadDetail();
  await loadLog();
  let endedAt = 0;
  const timer = setInterval(async () => {
    const ended = mb && ['completed', 'failed', 'cancelled'].includes(mb.state);
    if (!ended) await loadDetail();
    else if (!endedAt) endedAt = Date.now();
    // The last lines of an ended mailbox reach the log a moment later.
    if (logView.offset === 0 && (!ended || empty || Date.now() - endedAt < 10000)) loadLog();
  }, 2000);
  ctx.onDispose(() => clearInterval(timer));
}
