// Detail pages: router → middlewares → service → servers with health; service (servers, child
// services, routers using it); middleware (type, configuration, routers using it).

import { h, icon, replace } from './dom.js';
import { get, itemPath, findByName, ApiError } from './api.js';
import {
  KIND_LABEL, protoLabel, singular, statusBadge, errorsPanel, chips, providerChip, qualify,
  objectLink, kvTable, configTree, typedConfig, serversOf, healthBadge, card, notice,
} from './ui.js';

/** Related objects looked up per page, at most (a service used by thousands of routers). */
const MAX_RELATED = 50;

export function detailView(ctx) {
  const { proto, kind, name } = ctx;
  ctx.setCrumbs([
    { text: protoLabel(proto) },
    { text: KIND_LABEL[kind], href: `#/${proto}/${kind}` },
    { text: name },
  ]);
  ctx.setTitle(name);
  const el = h('div', { class: ['page', 'detail', `detail-${kind}`], dataset: { proto, kind, name } },
    notice('loading', 'Loading…'));

  async function refresh() {
    let obj;
    try {
      obj = await get(itemPath(proto, kind, name), null, ctx.signal);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        replace(el, header(name, null, null),
          notice('failure', `${singular(kind)} not found: ${name}`),
          h('p', null, h('a', { href: `#/${proto}/${kind}` }, `Back to ${protoLabel(proto)} ${KIND_LABEL[kind].toLowerCase()}`)));
        return;
      }
      throw err;
    }
    if (!obj || typeof obj !== 'object') throw new ApiError(200, 'unexpected answer from the API');
    if (kind === 'routers') {
      replace(el, ...(await routerPage(proto, obj, ctx.signal)));
    } else if (kind === 'services') {
      replace(el, ...(await servicePage(proto, obj, ctx.signal)));
    } else {
      replace(el, ...(await middlewarePage(proto, obj, ctx.signal)));
    }
  }

  return { el, refresh };
}

function header(name, status, provider) {
  return h('div', { class: 'detail-header' },
    h('h1', { class: 'page-title object-name' }, String(name)),
    status ? statusBadge(status) : null,
    provider ? providerChip(provider) : null);
}

/** Looks up several objects by name; a failed lookup gives null for that name. */
async function lookupAll(proto, kind, names, signal) {
  const list = names.slice(0, MAX_RELATED);
  const settled = await Promise.allSettled(list.map((n) => findByName(proto, kind, n, signal)));
  if (signal.aborted) throw new DOMException('aborted', 'AbortError');
  return list.map((n, i) => ({ name: n, obj: settled[i].status === 'fulfilled' ? settled[i].value : null }));
}

// ---- Routers ----------------------------------------------------------------------------------

async function routerPage(proto, router, signal) {
  const serviceName = router.service ? qualify(String(router.service), router.provider) : null;
  const mwNames = proto === 'udp' || !Array.isArray(router.middlewares)
    ? []
    : router.middlewares.map((m) => qualify(String(m), router.provider));
  const [service, middlewares] = await Promise.all([
    serviceName ? lookupAll(proto, 'services', [serviceName], signal).then((r) => r[0]) : null,
    lookupAll(proto, 'middlewares', mwNames, signal),
  ]);

  const eps = router.entryPoints || router.using || [];
  const flow = h('div', { class: 'flow', 'aria-label': 'Request flow' },
    flowStep('Entry points', 'entrypoint', chips(eps)),
    icon('arrow', 'flow-arrow'),
    flowStep(`${protoLabel(proto)} router`, 'router', h('span', { class: 'flow-value' }, String(router.name))),
    proto === 'udp' ? null : [
      icon('arrow', 'flow-arrow'),
      flowStep('Middlewares', 'middleware', mwNames.length
        ? h('ol', { class: 'flow-list' }, middlewares.map(({ name, obj }) => h('li', { class: ['flow-value', !obj && 'missing-ref'] }, name)))
        : h('span', { class: 'muted' }, 'none')),
    ],
    icon('arrow', 'flow-arrow'),
    flowStep('Service', 'service', serviceName
      ? h('span', { class: ['flow-value', !(service && service.obj) && 'missing-ref'] }, serviceName)
      : h('span', { class: 'muted' }, 'none')));

  const details = card('Router',
    kvTable([
      ['Status', statusBadge(router.status)],
      ['Provider', providerChip(router.provider)],
      ['Rule', router.rule ? h('code', { class: 'rule' }, String(router.rule)) : null],
      ['Rule syntax', router.ruleSyntax],
      ['Entry points', chips(router.entryPoints)],
      ['Using', Array.isArray(router.using) ? chips(router.using) : null],
      ['Priority', router.priorityStr ?? (router.priority !== undefined ? String(router.priority) : null)],
      ['Service', !serviceName ? null : service && service.obj
        ? objectLink(proto, 'services', serviceName)
        : h('span', { class: 'missing-ref', title: 'This service does not exist' }, serviceName)],
      ['Observability', router.observability ? configTree(router.observability) : null],
    ]));

  const tls = proto === 'udp' ? null : card('TLS',
    router.tls
      ? h('div', null, h('p', { class: 'tls-on' }, icon('shield'), 'TLS enabled'), configTree(router.tls))
      : h('p', { class: 'muted' }, 'TLS not enabled'));

  const mwSection = proto === 'udp' ? null : h('section', { class: 'section' },
    h('h2', { class: 'section-title' }, 'Middlewares'),
    middlewares.length === 0
      ? h('p', { class: 'muted' }, 'No middlewares.')
      : h('div', { class: 'grid mw-grid' }, middlewares.map(({ name, obj }, i) => middlewareCard(proto, name, obj, i + 1))));

  const svcSection = h('section', { class: 'section' },
    h('h2', { class: 'section-title' }, 'Service'),
    serviceName ? serviceCard(proto, serviceName, service && service.obj) : h('p', { class: 'muted' }, 'No service.'));

  return [
    header(router.name, router.status, router.provider),
    errorsPanel(router.error, router.status),
    flow,
    h('div', { class: 'grid two' }, details, tls),
    mwSection,
    svcSection,
  ];
}

function flowStep(label, ic, value) {
  return h('div', { class: 'flow-step card' },
    h('div', { class: 'flow-label' }, icon(ic), label),
    h('div', { class: 'flow-body' }, value));
}

function middlewareCard(proto, name, mw, index) {
  if (!mw) {
    return h('div', { class: 'card mw-card missing', dataset: { name } },
      h('div', { class: 'mw-head' }, h('span', { class: 'mw-index' }, String(index)), h('span', { class: 'object-name' }, name)),
      h('p', { class: 'error-text' }, icon('error'), 'This middleware does not exist.'));
  }
  const { value } = typedConfig(mw);
  return h('div', { class: 'card mw-card', dataset: { name } },
    h('div', { class: 'mw-head' },
      h('span', { class: 'mw-index' }, String(index)),
      objectLink(proto, 'middlewares', name),
      statusBadge(mw.status, true)),
    kvTable([['Type', mw.type], ['Provider', providerChip(mw.provider)]]),
    errorsPanel(mw.error, mw.status),
    value !== null && value !== undefined ? h('div', { class: 'config' }, configTree(value)) : null);
}

function serviceCard(proto, name, svc) {
  if (!svc) {
    return h('div', { class: 'card svc-card missing', dataset: { name } },
      h('div', { class: 'object-name' }, name),
      h('p', { class: 'error-text' }, icon('error'), 'This service does not exist.'));
  }
  return h('div', { class: 'card svc-card', dataset: { name } },
    h('div', { class: 'mw-head' }, objectLink(proto, 'services', name), statusBadge(svc.status, true)),
    kvTable([['Type', svc.type], ['Provider', providerChip(svc.provider)]]),
    errorsPanel(svc.error, svc.status),
    serversTable(svc),
    childServices(proto, svc));
}

// ---- Services ---------------------------------------------------------------------------------

async function servicePage(proto, svc, signal) {
  const usedBy = Array.isArray(svc.usedBy) ? svc.usedBy.map(String) : [];
  const routers = await lookupAll(proto, 'routers', usedBy, signal);
  const { key, value } = typedConfig(svc);
  let settings = value;
  if (settings && typeof settings === 'object' && !Array.isArray(settings)) {
    settings = { ...settings };
    delete settings.servers;
    delete settings.services;
    if (Object.keys(settings).length === 0) settings = null;
  }
  return [
    header(svc.name, svc.status, svc.provider),
    errorsPanel(svc.error, svc.status),
    h('div', { class: 'grid two' },
      card('Service', kvTable([
        ['Status', statusBadge(svc.status)],
        ['Type', svc.type],
        ['Provider', providerChip(svc.provider)],
      ])),
      settings ? card(key ? `Settings (${key})` : 'Settings', configTree(settings)) : null),
    serversSection(svc),
    childSection(proto, svc),
    usedBySection(proto, routers, usedBy.length),
  ];
}

function serversSection(svc) {
  const table = serversTable(svc);
  if (!table) return null;
  return h('section', { class: 'section' }, h('h2', { class: 'section-title' }, 'Servers'), table);
}

function serversTable(svc) {
  const servers = serversOf(svc);
  if (servers.length === 0) return null;
  const hasWeight = servers.some((s) => s.weight !== undefined);
  return h('div', { class: 'table-wrap' }, h('table', { class: 'objects servers' },
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, 'Health'),
      h('th', { scope: 'col' }, svc.loadBalancer && svc.loadBalancer.servers.some((s) => s.url) ? 'URL' : 'Address'),
      hasWeight ? h('th', { scope: 'col' }, 'Weight') : null)),
    h('tbody', null, servers.map((s) => h('tr', { class: 'server', dataset: { server: s.target } },
      h('td', null, healthBadge(s.health)),
      h('td', null, h('code', { class: 'server-url' }, s.target)),
      hasWeight ? h('td', null, s.weight === undefined ? '—' : String(s.weight)) : null)))));
}

/** The child services of weighted, mirroring, failover and highestRandomWeight services. */
function childrenOf(svc) {
  const out = [];
  const add = (name, role, extra) => { if (name) out.push({ name: qualify(String(name), svc.provider), role, extra }); };
  for (const key of ['weighted', 'highestRandomWeight']) {
    const inner = svc[key];
    if (inner && Array.isArray(inner.services)) {
      for (const s of inner.services) add(s.name, 'service', s.weight !== undefined ? `weight ${s.weight}` : '');
    }
  }
  if (svc.mirroring) {
    add(svc.mirroring.service, 'main', '');
    for (const m of svc.mirroring.mirrors || []) add(m.name, 'mirror', m.percent !== undefined ? `${m.percent}%` : '');
  }
  if (svc.failover) {
    add(svc.failover.service, 'main', '');
    add(svc.failover.fallback, 'fallback', '');
  }
  return out;
}

function childServices(proto, svc) {
  const children = childrenOf(svc);
  if (children.length === 0) return null;
  return h('ul', { class: 'children' }, children.map((c) => h('li', null,
    h('span', { class: 'chip' }, c.role), objectLink(proto, 'services', c.name), c.extra ? h('span', { class: 'muted' }, ` ${c.extra}`) : null)));
}

function childSection(proto, svc) {
  const list = childServices(proto, svc);
  if (!list) return null;
  return h('section', { class: 'section' }, h('h2', { class: 'section-title' }, 'Services'), card(null, list));
}

function usedBySection(proto, routers, total) {
  const more = total > routers.length ? h('p', { class: 'muted' }, `… and ${total - routers.length} more`) : null;
  return h('section', { class: 'section used-by' },
    h('h2', { class: 'section-title' }, 'Used by routers'),
    routers.length === 0
      ? h('p', { class: 'muted' }, 'Not used by any router.')
      : h('div', { class: 'table-wrap card' }, h('table', { class: 'objects' },
        h('thead', null, h('tr', null,
          h('th', { scope: 'col' }, 'Status'),
          h('th', { scope: 'col' }, 'Name'),
          proto === 'udp' ? null : h('th', { scope: 'col' }, 'Rule'),
          h('th', { scope: 'col' }, 'Entry points'))),
        h('tbody', null, routers.map(({ name, obj }) => h('tr', { class: 'row', dataset: { name } },
          h('td', null, obj ? statusBadge(obj.status, true) : h('span', { class: 'muted' }, '—')),
          h('td', null, obj ? objectLink(proto, 'routers', name) : name),
          proto === 'udp' ? null : h('td', null, obj && obj.rule ? h('code', { class: 'rule' }, String(obj.rule)) : '—'),
          h('td', null, chips(obj ? obj.entryPoints : [])))))),
      ),
    more);
}

// ---- Middlewares ------------------------------------------------------------------------------

async function middlewarePage(proto, mw, signal) {
  const usedBy = Array.isArray(mw.usedBy) ? mw.usedBy.map(String) : [];
  const routers = await lookupAll(proto, 'routers', usedBy, signal);
  const { key, value } = typedConfig(mw);
  return [
    header(mw.name, mw.status, mw.provider),
    errorsPanel(mw.error, mw.status),
    h('div', { class: 'grid two' },
      card('Middleware', kvTable([
        ['Status', statusBadge(mw.status)],
        ['Type', mw.type],
        ['Provider', providerChip(mw.provider)],
      ])),
      card(key ? `Configuration (${key})` : 'Configuration', h('div', { class: 'config' }, configTree(value)))),
    usedBySection(proto, routers, usedBy.length),
  ];
}
