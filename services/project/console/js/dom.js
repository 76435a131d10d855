// Small DOM helpers: element building, form fields with their error line,
// formatting, health badges. Text is always set as text, never as HTML, so
// nothing the API returns can inject markup.

import { ApiError } from './api.js';

// h builds an element: h('a', {href: '#'}, 'text', child...). Attributes
// starting with "on" are listeners; class, dataset and boolean attributes
// work as expected.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
      else if (k === 'class') el.className = v;
      // Through the CSSOM: the console's CSP forbids style attributes.
      else if (k === 'style') el.style.cssText = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'value') el.value = v;
      else if (k === 'checked') el.checked = !!v;
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.append(c);
    else el.append(document.createTextNode(String(c)));
  }
}

// add appends children, skipping null, undefined and false (Element.append
// would write them as text) and flattening arrays.
export function add(el, ...children) {
  append(el, children);
  return el;
}

// clear empties el; clear(el).append(...) then adds as add does.
export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return { el, append: (...children) => add(el, ...children) };
}

let uid = 0;
// field makes a labelled input with its hint and its error line; the input
// is described by both, so screen readers read the error next to it.
export function field(label, input, hint) {
  const id = input.id || 'f' + (++uid);
  input.id = id;
  const err = h('p', { class: 'field-error', id: id + '-err', role: 'alert', dataset: { for: input.name || '' } });
  const hintEl = hint ? h('p', { class: 'hint', id: id + '-hint' }, hint) : null;
  input.setAttribute('aria-describedby', [hintEl ? id + '-hint' : '', id + '-err'].filter(Boolean).join(' '));
  return h('div', { class: 'field' }, h('label', { for: id }, label), hintEl, input, err);
}

// setFieldError shows msg next to the form's input named name; it returns
// false when the form has no such input.
export function setFieldError(form, name, msg) {
  const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
  if (!input) return false;
  input.setAttribute('aria-invalid', 'true');
  const err = document.getElementById(input.id + '-err');
  if (err) err.textContent = msg;
  return true;
}

export function clearErrors(form) {
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  for (const el of form.querySelectorAll('.field-error, .form-error')) el.textContent = '';
}

// showError puts an API error next to the field it names (through
// aliases: API field name -> input name) or, failing that, at the top of
// the form; the first invalid input gets the focus.
export function showError(form, err, aliases = {}) {
  const msg = err instanceof ApiError ? err.text : String(err && err.message || err);
  let shown = false;
  if (err instanceof ApiError && err.field) {
    const name = aliases[err.field] || err.field;
    shown = setFieldError(form, name, msg);
  }
  if (!shown) {
    const top = form.querySelector('.form-error');
    if (top) top.textContent = msg;
  }
  focusFirstInvalid(form);
}

export function focusFirstInvalid(form) {
  const bad = form.querySelector('[aria-invalid=true]');
  if (bad) bad.focus();
}

// check runs client-side checks [{name, test: value => message|''}] and
// shows each failure next to its field; it returns true when all pass.
export function check(form, rules) {
  let ok = true;
  for (const r of rules) {
    const input = form.elements[r.name];
    const value = input ? (input.type === 'file' ? input.files : input.value) : undefined;
    const msg = r.test(value);
    if (msg) {
      setFieldError(form, r.name, msg);
      ok = false;
    }
  }
  if (!ok) focusFirstInvalid(form);
  return ok;
}

export const required = (what) => (v) => (String(v || '').trim() ? '' : `Enter ${what}.`);

// Formatting.
const nf = new Intl.NumberFormat('en-US');
export const num = (n) => (n === undefined || n === null ? '–' : nf.format(n));
export function bytes(n) {
  if (n === undefined || n === null) return '–';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return (i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)) + ' ' + u[i];
}
export function duration(s) {
  if (s === undefined || s === null) return '–';
  s = Math.max(0, Math.round(s));
  if (s < 60) return s + ' s';
  const m = Math.floor(s / 60);
  if (m < 60) return m + ' min ' + (s % 60 ? (s % 60) + ' s' : '');
  const hrs = Math.floor(m / 60);
  return hrs + ' h ' + (m % 60) + ' min';
}
export function when(t) {
  if (!t) return '–';
  const d = new Date(t);
  return isNaN(d) ? '–' : d.toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'medium' });
}

// Health: colour plus words. Unknown values show as they are.
const HEALTH = {
  healthy: ['ok', '● Healthy'],
  completed: ['info', '✔ Completed'],
  throttled: ['warn', '◐ Throttled'],
  slow: ['warn', '◔ Slow'],
  stalled: ['bad', '■ Stalled'],
  failing: ['bad', '✖ Failing'],
};
export function healthBadge(health, reason) {
  const [cls, text] = HEALTH[health] || ['idle', health || '–'];
  return h('span', { class: 'badge ' + cls, title: reason || '', dataset: { health: health || '' } }, text);
}

const STATE = {
  requested: 'idle', awaiting_credits: 'warn', approved: 'info', queued: 'idle', running: 'info',
  completed: 'ok', failed: 'bad', cancelled: 'idle', rejected: 'bad',
};
export function stateBadge(state) {
  return h('span', { class: 'badge ' + (STATE[state] || 'idle'), dataset: { state: state || '' } }, (state || '–').replace('_', ' '));
}

export function notice(kind, ...text) { return h('div', { class: 'notice ' + kind, role: kind === 'bad' ? 'alert' : 'status' }, ...text); }

// pager renders "from–to of total" with previous and next buttons.
export function pager(offset, limit, total, go, label = 'mailboxes') {
  const from = total ? offset + 1 : 0;
  const to = Math.min(offset + limit, total);
  return h('div', { class: 'pager' },
    h('button', { type: 'button', disabled: offset <= 0, onclick: () => go(Math.max(0, offset - limit)), 'aria-label': 'Previous page', dataset: { testid: 'prev' } }, '‹ Previous'),
    h('span', { class: 'count', 'aria-live': 'polite', dataset: { testid: 'range' } }, `${num(from)}–${num(to)} of ${num(total)} ${label}`),
    h('button', { type: 'button', disabled: to >= total, onclick: () => go(offset + limit), 'aria-label': 'Next page', dataset: { testid: 'next' } }, 'Next ›'),
  );
}

// confirmDialog asks before anything that moves data or cannot be undone;
// Cancel has the focus, so Enter alone never confirms.
export function confirmDialog(title, body, confirmText, danger = false) {
  return new Promise((resolve) => {
    const dlg = h('dialog', { 'aria-labelledby': 'dlg-title', dataset: { testid: 'confirm' } });
    const cancel = h('button', { type: 'button', onclick: () => dlg.close('cancel') }, 'Cancel');
    const ok = h('button', { type: 'button', class: danger ? 'danger' : 'primary', dataset: { testid: 'confirm-ok' }, onclick: () => dlg.close('ok') }, confirmText);
    dlg.append(h('h2', { id: 'dlg-title' }, title), ...[].concat(body), h('div', { class: 'row' }, cancel, ok));
    dlg.addEventListener('close', () => { dlg.remove(); resolve(dlg.returnValue === 'ok'); });
    document.body.append(dlg);
    dlg.showModal();
    cancel.focus();
  });
}

// debounce delays fn until calls stop for ms.
export function debounce(fn, ms) {
  let t;
  const d = (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
  d.now = (...a) => { clearTimeout(t); fn(...a); };
  return d;
}

export function errorText(err) {
  return err instanceof ApiError ? err.text : String((err && err.message) || err);
}

// dl renders [label, value] pairs as a definition list.
export function dl(pairs) {
  return h('dl', { class: 'kv' }, pairs.filter(Boolean).map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}
