// Shared pieces of the pages: section definitions, status badges, error panels, key/value
// tables, configuration trees. All data goes in as text.

import { h, icon, hashHref } from './dom.js';

/** The sections of the navigation and which object kinds each has. */
export const SECTIONS = [
  { proto: 'http', label: 'HTTP', kinds: ['routers', 'services', 'middlewares'] },
  { proto: 'tcp', label: 'TCP', kinds: ['routers', 'services', 'middlewares'] },
  { proto: 'udp', label: 'UDP', kinds: ['routers', 'services'] },
];

export const KIND_LABEL = { routers: 'Routers', services: 'Services', middlewares: 'Middlewares' };
export const KIND_ICON = { routers: 'router', services: 'service', middlewares: 'middleware' };
const SINGULAR = { routers: 'Router', services: 'Service', middlewares: 'Middleware' };

export function protoLabel(proto) {
  return proto.toUpperCase();
}

export function singular(kind) {
  return SINGULAR[kind] || kind;
}

export function isKnownKind(proto, kind) {
  const section = SECTIONS.find((s) => s.proto === proto);
  return Boolean(section && section.kinds.includes(kind));
}

const STATUS = {
  enabled: { cls: 'ok', label: 'Success', icon: 'ok' },
  warning: { cls: 'warn', label: 'Warning', icon: 'warning' },
  disabled: { cls: 'err', label: 'Error', icon: 'error' },
};

/** A status badge: icon plus word (never colour alone). */
export function statusBadge(status, compact) {
  const s = STATUS[status] || { cls: 'unknown', label: status ? String(status) : 'Unknown', icon: 'warning' };
  return h('span', { class: ['status', s.cls, compact && 'compact'], title: s.label, dataset: { status: status || '' } },
    icon(s.icon), h('span', { class: 'status-label' }, s.label));
}

/** The `error` array of an object, shown prominently (nothing when there is none). */
export function errorsPanel(errors, status) {
  if (!Array.isArray(errors) || errors.length === 0) return null;
  const cls = status === 'warning' ? 'warn' : 'err';
  return h('section', { class: ['errors-panel', cls], role: 'alert' },
    h('h3', null, icon(status === 'warning' ? 'warning' : 'error'), status === 'warning' ? 'Warnings' : 'Errors'),
    h('ul', { class: 'error-list' }, errors.map((e) => h('li', { class: 'error-text' }, String(e)))));
}

/** Inline list of error strings for a table row. */
export function rowErrors(errors) {
  if (!Array.isArray(errors) || errors.length === 0) return null;
  return h('ul', { class: 'row-error-list' }, errors.map((e) => h('li', { class: 'error-text' }, String(e))));
}

export function chip(text, extraClass) {
  return h('span', { class: ['chip', extraClass] }, String(text));
}

export function chips(list, extraClass) {
  if (!Array.isArray(list) || list.length === 0) return h('span', { class: 'muted' }, '—');
  return h('span', { class: 'chips' }, list.map((x) => chip(x, extraClass)));
}

export function providerChip(provider) {
  if (!provider) return h('span', { class: 'muted' }, '—');
  return h('span', { class: 'provider', title: `Provider: ${provider}` }, icon('provider'), String(provider));
}

/** `name` qualified with `provider` when it has no `@provider` of its own. */
export function qualify(name, provider) {
  if (typeof name !== 'string' || name === '') return name;
  if (name.includes('@') || !provider) return name;
  return `${name}@${provider}`;
}

/** A link to an object's detail page. */
export function objectLink(proto, kind, name) {
  return h('a', { class: 'object-link', href: hashHref(proto, kind, name) }, String(name));
}

/** Key/value rows: [[label, value]], values null/undefined are skipped. */
export function kvTable(rows) {
  const dl = h('dl', { class: 'kv' });
  for (const [label, value] of rows) {
    if (value === undefined || value === null || value === '') continue;
    dl.append(h('dt', null, label), h('dd', null, value instanceof Node ? value : String(value)));
  }
  return dl;
}

/** A nested view of a configuration value (objects, arrays, scalars), as text. */
export function configTree(value) {
  if (value === null || value === undefined) return h('span', { class: 'muted' }, '—');
  if (Array.isArray(value)) {
    if (value.length === 0) return h('span', { class: 'muted' }, '[]');
    if (value.every((v) => v === null || typeof v !== 'object')) {
      return h('span', { class: 'chips' }, value.map((v) => chip(scalar(v), 'mono')));
    }
    return h('ol', { class: 'tree-list' }, value.map((v) => h('li', null, configTree(v))));
  }
  if (typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 0) return h('span', { class: 'muted' }, '{}');
    const dl = h('dl', { class: 'tree' });
    for (const key of keys) {
      dl.append(h('dt', null, key), h('dd', null, configTree(value[key])));
    }
    return dl;
  }
  return h('span', { class: ['scalar', typeof value] }, scalar(value));
}

function scalar(v) {
  if (v === null || v === undefined) return '—';
  return String(v);
}

/** Fields the API adds to every object; the rest is configuration. */
const META = new Set(['status', 'error', 'usedBy', 'using', 'name', 'provider', 'type', 'serverStatus', 'priorityStr']);

/** The configuration part of a service or middleware: the value under its type key. */
export function typedConfig(obj) {
  if (!obj || typeof obj !== 'object') return { key: null, value: null };
  const keys = Object.keys(obj).filter((k) => !META.has(k));
  const type = typeof obj.type === 'string' ? obj.type.toLowerCase() : '';
  const key = keys.find((k) => k.toLowerCase() === type) || (keys.length === 1 ? keys[0] : null);
  if (key) return { key, value: obj[key] };
  const rest = {};
  for (const k of keys) rest[k] = obj[k];
  return { key: null, value: keys.length ? rest : null };
}

/** The servers of a service's load balancer, with their health from `serverStatus`. */
export function serversOf(service) {
  const lb = service && service.loadBalancer;
  const servers = lb && Array.isArray(lb.servers) ? lb.servers : [];
  const health = (service && service.serverStatus) || {};
  return servers.map((s) => {
    const target = s.url || s.address || '';
    return { target, weight: s.weight, health: health[target] };
  });
}

/** Number of servers (or child services) of a service, for the list. */
export function serverCount(service) {
  if (!service) return 0;
  const inner = service.loadBalancer || service.weighted || service.highestRandomWeight;
  if (inner && Array.isArray(inner.servers)) return inner.servers.length;
  if (inner && Array.isArray(inner.services)) return inner.services.length;
  if (service.mirroring) return 1 + (Array.isArray(service.mirroring.mirrors) ? service.mirroring.mirrors.length : 0);
  if (service.failover) return service.failover.fallback ? 2 : 1;
  return 0;
}

export function healthBadge(health) {
  if (health === 'UP') return h('span', { class: 'health up' }, icon('ok'), 'UP');
  if (health === 'DOWN') return h('span', { class: 'health down' }, icon('error'), 'DOWN');
  if (health) return h('span', { class: 'health' }, String(health));
  return h('span', { class: 'muted', title: 'No health information' }, '—');
}

/** A card with a title. */
export function card(title, ...children) {
  return h('section', { class: 'card' }, title ? h('h3', { class: 'card-title' }, title) : null, ...children);
}

/** A message panel (loading, empty, failure). */
export function notice(kind, text) {
  return h('div', { class: ['notice', kind], role: kind === 'failure' ? 'alert' : null }, text);
}
