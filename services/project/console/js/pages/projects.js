// The account's projects, and step 1 of the wizard: a new project.

import { get, post } from '../api.js';
import { h, clear, field, clearErrors, check, showError, required, when, pager, notice, stateBadge, debounce, add } from '../dom.js';

export const PLATFORMS = [
  ['m365', 'Microsoft 365'],
  ['google', 'Google Workspace'],
  ['exchange', 'Exchange on-premises'],
  ['memory', 'Sandbox (memory platform)'],
];
export const platformName = (k) => (PLATFORMS.find((p) => p[0] === k) || [k, k])[1];

const PAGE = 25;

export async function render(ctx) {
  const { projects } = await get('/api/projects');
  if (ctx.stale()) return;
  projects.sort((a, b) => (a.created < b.created ? 1 : -1));
  const filter = h('input', { type: 'search', name: 'filter', placeholder: 'Filter by name or platform', 'aria-label': 'Filter projects', dataset: { filter: '' } });
  const body = h('div');
  let offset = 0;
  const draw = () => {
    const f = filter.value.trim().toLowerCase();
    const list = projects.filter((p) => !f || p.name.toLowerCase().includes(f) || p.source.includes(f) || p.destination.includes(f) || p.id.includes(f));
    offset = Math.min(offset, Math.max(0, list.length - 1 - ((list.length - 1) % PAGE)));
    const page = list.slice(offset, offset + PAGE);
    clear(body);
    if (!projects.length) {
      add(body, notice('info', 'No projects yet. ', h('a', { href: '#/projects/new' }, 'Create the first one'), '.'));
      return;
    }
    const rows = page.map((p) => {
      const creds = ['source', 'destination'].filter((s) => p.credentials && p.credentials[s]).length;
      const latest = h('td', { dataset: { latest: p.id } }, '…');
      latestRun(p.id, latest);
      return h('tr', null,
        h('td', null, h('a', { href: `#/p/${p.id}/${creds < 2 ? 'credentials' : 'launch'}` }, p.name)),
        h('td', null, platformName(p.source), ' → ', platformName(p.destination)),
        h('td', null, creds === 2 ? 'both sides set' : `${creds} of 2 sides set`),
        latest,
        h('td', null, when(p.created)));
    });
    add(body,
      h('div', { class: 'table-wrap' }, h('table', { dataset: { testid: 'projects' } },
        h('thead', null, h('tr', null, h('th', null, 'Project'), h('th', null, 'Migration'), h('th', null, 'Credentials'), h('th', null, 'Latest run'), h('th', null, 'Created'))),
        h('tbody', null, rows))),
      pager(offset, PAGE, list.length, (o) => { offset = o; draw(); }, 'projects'));
  };
  filter.addEventListener('input', debounce(() => { offset = 0; draw(); }, 150));
  add(ctx.main,
    h('div', { class: 'row' }, h('h1', null, 'Projects'), h('span', { class: 'spacer' }), h('a', { class: 'button primary', href: '#/projects/new' }, 'New project')),
    h('div', { class: 'toolbar' }, filter),
    body);
  draw();
}

// latestRun fills a cell with the project's newest run, for the rows shown.
async function latestRun(projectID, cell) {
  try {
    const { runs } = await get(`/api/projects/${projectID}/runs`);
    clear(cell);
    if (!runs.length) add(cell, 'none yet');
    else add(cell, runs[0].mode + ' ', stateBadge(runs[0].state));
  } catch {
    clear(cell);
    add(cell, '–');
  }
}

export function platformSelect(name) {
  return h('select', { name },
    h('option', { value: '' }, 'Choose a platform'),
    PLATFORMS.map(([v, t]) => h('option', { value: v }, t)));
}

// renderNew is step 1: name, source and destination platform.
export async function renderNew(ctx) {
  const form = h('form', { class: 'panel', novalidate: true, dataset: { testid: 'new-project' } },
    h('p', { class: 'form-error', role: 'alert' }),
    field('Project name', h('input', { type: 'text', name: 'name', maxlength: 200, autocomplete: 'off' }), 'For example the customer and the move: "Contoso to Fabrikam".'),
    field('Source platform', platformSelect('source'), 'Where the mailboxes are now.'),
    field('Destination platform', platformSelect('destination'), 'Where they move to. The same platform on both sides is fine (tenant-to-tenant).'),
    h('button', { class: 'primary', type: 'submit' }, 'Create project and continue'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const ok = check(form, [
      { name: 'name', test: (v) => (!v.trim() ? 'Give the project a name.' : v.trim().length > 200 ? 'Keep the name to 200 characters.' : '') },
      { name: 'source', test: (v) => (v ? '' : 'Choose where the mailboxes are now.') },
      { name: 'destination', test: (v) => (v ? '' : 'Choose where the mailboxes move to.') },
    ]);
    if (!ok) return;
    try {
      const p = await post('/api/projects', { name: form.elements.name.value.trim(), source: form.elements.source.value, destination: form.elements.destination.value });
      ctx.go(`#/p/${p.id}/credentials`);
    } catch (err) {
      showError(form, err);
    }
  });
  add(ctx.main, h('h1', null, 'New project'), stepsPreview(), form);
  form.elements.name.focus();
}

function stepsPreview() {
  return h('p', { class: 'muted' }, 'Step 1 of 6. Next: credentials, discovery (free), mapping, credits, launch. Nothing moves until you confirm a launch.');
}

