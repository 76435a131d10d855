// The console's entry point: sign-in state, the hash router and the
// keyboard shortcuts. Every page module exports render(ctx) and draws into
// ctx.main; ctx.onDispose registers what to stop (streams, timers) when
// the person leaves the page.

import { session, signOut, setUnauthorizedHandler } from './api.js';
import { h, clear, errorText, notice, add } from './dom.js';
import * as login from './pages/login.js';
import * as projects from './pages/projects.js';
import * as wizard from './pages/wizard.js';
import * as track from './pages/track.js';
import * as mailbox from './pages/mailbox.js';
import * as fleet from './pages/fleet.js';
import * as operator from './pages/operator.js';

const STEPS = ['project', 'credentials', 'discovery', 'mapping', 'credits', 'launch'];

const routes = [
  [/^\/login$/, () => login.render],
  [/^\/projects$/, () => projects.render],
  [/^\/projects\/new$/, () => projects.renderNew],
  [/^\/p\/([^/]+)\/track\/([^/]+)$/, () => track.render, ['id', 'runId']],
  [/^\/p\/([^/]+)\/mailbox\/([^/]+)\/([^/]+)$/, () => mailbox.render, ['id', 'runId', 'sourceId']],
  [/^\/p\/([^/]+)\/(project|credentials|discovery|mapping|credits|launch)$/, () => wizard.render, ['id', 'step']],
  [/^\/fleet$/, () => fleet.render],
  [/^\/operator$/, () => operator.render],
];

let disposers = [];
let renderSeq = 0;

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = raw.split('?');
  return { path, query: new URLSearchParams(query) };
}

export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function renderNav(path) {
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  clear(nav);
  clear(who);
  const s = session();
  if (!s) return;
  const link = (href, text, match) => h('a', { href, 'aria-current': match.test(path) ? 'page' : false }, text);
  if (!s.who.operator) {
    add(nav, link('#/projects', 'Projects', /^\/(projects|p\/)/), link('#/fleet', 'Fleet', /^\/fleet/));
  }
  add(nav, link('#/operator', 'Operator', /^\/operator/));
  const name = s.who.operator ? 'Operator' : ((s.who.account && s.who.account.name) || 'Account');
  add(who, h('span', { dataset: { testid: 'who' } }, name), h('button', { type: 'button', onclick: () => { signOut(); go('#/login'); } }, 'Sign out'));
}

async function route() {
  const seq = ++renderSeq;
  for (const d of disposers) { try { d(); } catch { /* already stopped */ } }
  disposers = [];
  const { path, query } = parseHash();
  const main = document.getElementById('main');
  const s = session();
  if (!s && path !== '/login') { go('#/login'); return; }
  if (s && (path === '/' || path === '/login')) { go(s.who.operator ? '#/operator' : '#/projects'); return; }
  renderNav(path);
  clear(main);
  let found = null;
  for (const [re, page, names = []] of routes) {
    const m = re.exec(path);
    if (m) {
      const params = {};
      names.forEach((n, i) => { params[n] = decodeURIComponent(m[i + 1]); });
      found = { render: page(), params };
      break;
    }
  }
  if (!found) {
    add(main, h('h1', null, 'Page not found'), h('p', null, h('a', { href: '#/projects' }, 'Go to the projects')));
    return;
  }
  const ctx = {
    main, params: found.params, query, go,
    steps: STEPS,
    onDispose: (fn) => disposers.push(fn),
    // stale tells an async page that the person has moved on.
    stale: () => seq !== renderSeq,
  };
  try {
    await found.render(ctx);
  } catch (err) {
    if (seq !== renderSeq) return;
    add(main, notice('bad', errorText(err)));
  }
  if (seq === renderSeq) {
    const heading = main.querySelector('h1');
    document.title = (heading ? heading.textContent + ' – ' : '') + 'mailferry';
    main.dataset.ready = String(seq);
  }
}

setUnauthorizedHandler(() => {
  signOut();
  sessionStorage.setItem('mailferry.notice', 'Your key is no longer accepted (revoked or wrong). Sign in again.');
  go('#/login');
});

document.addEventListener('keydown', (e) => {
  const t = e.target;
  const typing = t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable);
  if (e.key === '/' && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
    const f = document.querySelector('main [data-filter]');
    if (f) { e.preventDefault(); f.focus(); f.select && f.select(); }
  }
  if (e.altKey && !e.ctrlKey && !e.metaKey && /^[1-6]$/.test(e.key)) {
    const m = /^\/p\/([^/]+)\//.exec(parseHash().path);
    if (m) { e.preventDefault(); go(`#/p/${m[1]}/${STEPS[Number(e.key) - 1]}`); }
  }
});

window.addEventListener('hashchange', route);
route();
