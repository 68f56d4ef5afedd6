// The overview page: entry points, counts by status for every kind, features, providers.

import { h, icon, donut, hashHref, replace } from './dom.js';
import { get } from './api.js';
import { SECTIONS, KIND_LABEL, protoLabel, chip } from './ui.js';

export function overviewView(ctx) {
  const el = h('div', { class: 'page overview' });
  ctx.setCrumbs([{ text: 'Overview' }]);
  ctx.setTitle('Overview');

  async function refresh() {
    const [overview, entryPoints] = await Promise.all([
      get('overview', null, ctx.signal),
      get('entrypoints', null, ctx.signal),
    ]);
    ctx.setOverview(overview);
    replace(el,
      h('h1', { class: 'page-title' }, 'Overview'),
      entryPointsSection(entryPoints),
      SECTIONS.map((section) => protoSection(section, overview)),
      featuresSection(overview && overview.features),
      providersSection(overview && overview.providers));
  }

  return { el, refresh };
}

function entryPointsSection(entryPoints) {
  const list = Array.isArray(entryPoints) ? [...entryPoints] : [];
  list.sort((a, b) => String(a.name).localeCompare(String(b.name)));
  return h('section', { class: 'section', id: 'entrypoints' },
    h('h2', { class: 'section-title' }, 'Entry points'),
    list.length === 0
      ? h('p', { class: 'muted' }, 'No entry points.')
      : h('div', { class: 'grid ep-grid' }, list.map((ep) =>
        h('div', { class: 'card ep-card', dataset: { entrypoint: ep.name } },
          h('div', { class: 'ep-name' }, String(ep.name ?? '')),
          h('div', { class: 'ep-address' }, String(ep.address ?? ''))))));
}

function protoSection(section, overview) {
  const data = (overview && overview[section.proto]) || {};
  return h('section', { class: 'section', id: `overview-${section.proto}` },
    h('h2', { class: 'section-title' }, protoLabel(section.proto)),
    h('div', { class: 'grid stat-grid' },
      section.kinds.map((kind) => statCard(section.proto, kind, data[kind]))));
}

function statCard(proto, kind, counts) {
  const total = num(counts && counts.total);
  const warnings = num(counts && counts.warnings);
  const errors = num(counts && counts.errors);
  const success = Math.max(0, total - warnings - errors);
  const pct = (n) => (total > 0 ? `${Math.round((n / total) * 100)}%` : '0%');
  const line = (cls, ic, label, n) => h('li', { class: ['stat-line', cls] },
    h('span', { class: 'stat-icon' }, icon(ic)),
    h('span', { class: 'stat-label' }, label, h('small', null, pct(n))),
    h('span', { class: 'stat-count' }, String(n)));
  const title = `${protoLabel(proto)} ${KIND_LABEL[kind]}`;
  return h('div', { class: 'card stat-card', dataset: { stat: `${proto}-${kind}` } },
    h('div', { class: 'stat-head' },
      h('h3', { class: 'card-title' }, KIND_LABEL[kind]),
      h('a', { class: 'explore', href: hashHref(proto, kind), 'aria-label': `Explore ${title}` }, 'Explore', icon('arrow'))),
    h('div', { class: 'stat-body' },
      donut([
        { value: success, cls: 'ok' },
        { value: warnings, cls: 'warn' },
        { value: errors, cls: 'err' },
      ], `${title}: ${success} success, ${warnings} warnings, ${errors} errors`),
      h('ul', { class: 'stat-lines' },
        line('ok', 'ok', 'Success', success),
        line('warn', 'warning', 'Warnings', warnings),
        line('err', 'error', 'Errors', errors))));
}

function featuresSection(features) {
  const f = features || {};
  const item = (label, value) => {
    const on = Boolean(value);
    const text = typeof value === 'string' ? (value || 'OFF') : (on ? 'ON' : 'OFF');
    return h('div', { class: ['card', 'feature-card', on ? 'on' : 'off'], dataset: { feature: label } },
      h('div', { class: 'feature-name' }, label),
      h('div', { class: 'feature-value' }, text));
  };
  return h('section', { class: 'section', id: 'features' },
    h('h2', { class: 'section-title' }, 'Features'),
    h('div', { class: 'grid feature-grid' },
      item('Tracing', f.tracing ?? ''),
      item('Metrics', f.metrics ?? ''),
      item('Access log', Boolean(f.accessLog))));
}

function providersSection(providers) {
  const list = Array.isArray(providers) ? providers : [];
  return h('section', { class: 'section', id: 'providers' },
    h('h2', { class: 'section-title' }, 'Providers'),
    list.length === 0
      ? h('p', { class: 'muted' }, 'No providers.')
      : h('div', { class: 'chips providers-list' }, list.map((p) => chip(p, 'provider-chip'))));
}

function num(v) {
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : 0;
}
