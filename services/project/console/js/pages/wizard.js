// The six steps of a project. Each step is its own page; the step bar on
// top shows where the project stands (✓ where a step is done) and every
// step stays reachable, because every step is reversible.

import { get } from '../api.js';
import { h, when, dl, add } from '../dom.js';
import { platformName } from './projects.js';
import * as credentials from './credentials.js';
import * as discovery from './discovery.js';
import * as mapping from './mapping.js';
import * as credits from './credits.js';
import * as launch from './launch.js';

export const STEP_TITLES = {
  project: 'Project', credentials: 'Credentials', discovery: 'Discovery',
  mapping: 'Mapping', credits: 'Credits', launch: 'Launch and track',
};

// load fetches the project and its runs, which every step needs.
export async function load(id) {
  const [project, { runs }] = await Promise.all([get(`/api/projects/${id}`), get(`/api/projects/${id}/runs`)]);
  return { project, runs };
}

export function stepper(ctx, project, runs, current) {
  const done = {
    project: true,
    credentials: !!(project.credentials && project.credentials.source && project.credentials.destination),
    discovery: runs.some((r) => r.mode === 'discovery' && r.state === 'completed'),
    mapping: false,
    credits: false,
    launch: runs.some((r) => r.mode !== 'discovery' && r.state === 'completed'),
  };
  return h('nav', { 'aria-label': 'Project steps' }, h('ol', { class: 'steps' },
    ctx.steps.map((s, i) => h('li', { class: done[s] ? 'done' : '' },
      h('a', { href: `#/p/${project.id}/${s}`, 'aria-current': s === current ? 'step' : false, title: `Alt+${i + 1}` },
        h('span', { class: 'n', 'aria-hidden': 'true' }, done[s] ? '✓' : String(i + 1)),
        STEP_TITLES[s], done[s] ? h('span', { class: 'muted small' }, ' (done)') : null)))));
}

export function header(ctx, project, runs, current) {
  return [
    h('p', { class: 'muted small' }, h('a', { href: '#/projects' }, 'Projects'), ' / ', project.name),
    h('h1', null, `${STEP_TITLES[current]}: ${project.name}`),
    stepper(ctx, project, runs, current),
  ];
}

const PAGES = { credentials, discovery, mapping, credits, launch };

export async function render(ctx) {
  const { project, runs } = await load(ctx.params.id);
  if (ctx.stale()) return;
  const step = ctx.params.step;
  add(ctx.main, ...header(ctx, project, runs, step));
  if (step === 'project') {
    add(ctx.main, h('div', { class: 'panel' },
      dl([['Name', project.name], ['Source', platformName(project.source)], ['Destination', platformName(project.destination)],
        ['Created', when(project.created)], ['Project id', project.id]]),
      h('p', { class: 'muted' }, 'The platforms of a project are fixed; to move between other platforms, create another project.'),
      h('a', { class: 'button primary', href: `#/p/${project.id}/credentials` }, 'Continue to credentials')));
    return;
  }
  await PAGES[step].render(ctx, project, runs);
}
