// List pages: routers, services and middlewares of one protocol, with search, status filter,
// sorting and paging done by the API (`search`, `status`, `sortBy`, `direction`, `page`,
// `per_page`; the next page number comes in `X-Next-Page`).

import { h, icon, replace, hashHref, nameText } from './dom.js';
import { request } from './api.js';
import {
  KIND_LABEL, protoLabel, statusBadge, rowErrors, chips, providerChip, qualify, serverCount,
  notice,
} from './ui.js';

const PER_PAGE = 50;

const STATUS_FILTERS = [
  { value: '', label: 'All status' },
  { value: 'enabled', label: 'Success' },
  { value: 'warning', label: 'Warnings' },
  { value: 'disabled', label: 'Errors' },
];

/** Column definitions: { key (sortBy), label, cell(obj), cls } by proto/kind. */
function columns(proto, kind) {
  const status = { key: 'status', label: 'Status', cls: 'col-status', cell: (o) => statusBadge(o.status, true) };
  const name = { key: 'name', label: 'Name', cls: 'col-name', cell: (o) => h('a', { class: 'object-link', href: hashHref(proto, kind, o.name) }, nameText(o.name)) };
  const provider = { key: 'provider', label: 'Provider', cls: 'col-provider', cell: (o) => providerChip(o.provider) };
  const type = { key: 'type', label: 'Type', cls: 'col-type', cell: (o) => (o.type ? h('span', { class: 'type' }, String(o.type)) : h('span', { class: 'muted' }, '—')) };
  if (kind === 'routers') {
    const cols = [status];
    if (proto !== 'udp') {
      cols.push({ key: 'tls', label: 'TLS', cls: 'col-tls', cell: (o) => (o.tls ? h('span', { class: 'tls-on', title: 'TLS' }, icon('shield'), h('span', { class: 'sr-only' }, 'TLS')) : null) });
      cols.push({ key: 'rule', label: 'Rule', cls: 'col-rule', cell: (o) => (o.rule ? h('code', { class: 'rule' }, String(o.rule)) : h('span', { class: 'muted' }, '—')) });
    }
    cols.push({ key: 'entryPoints', label: 'Entry points', cls: 'col-eps', cell: (o) => chips(o.entryPoints || o.using) });
    cols.push(name);
    cols.push({
      key: 'service', label: 'Service', cls: 'col-service', cell: (o) => (o.service
        ? h('a', { class: 'object-link', href: hashHref(proto, 'services', qualify(o.service, o.provider)) }, nameText(o.service))
        : h('span', { class: 'muted' }, '—')),
    });
    cols.push(provider);
    if (proto !== 'udp') {
      cols.push({ key: 'priority', label: 'Priority', cls: 'col-priority', cell: (o) => priority(o) });
    }
    return cols;
  }
  if (kind === 'services') {
    return [status, name, type,
      { key: 'servers', label: 'Servers', cls: 'col-servers', cell: (o) => String(serverCount(o)) },
      provider];
  }
  return [status, name, type, provider];
}

function priority(o) {
  const p = o.priorityStr ?? (o.priority !== undefined ? String(o.priority) : '');
  return p ? h('span', { class: 'priority', title: p }, p) : h('span', { class: 'muted' }, '—');
}

export function listView(ctx) {
  const { proto, kind } = ctx;
  const title = `${protoLabel(proto)} ${KIND_LABEL[kind]}`;
  ctx.setCrumbs([{ text: protoLabel(proto) }, { text: KIND_LABEL[kind] }]);
  ctx.setTitle(title);

  const state = {
    search: ctx.params.get('search') || '',
    status: ctx.params.get('status') || '',
    sortBy: ctx.params.get('sortBy') || 'name',
    direction: ctx.params.get('direction') === 'desc' ? 'desc' : 'asc',
    page: positive(ctx.params.get('page'), 1),
    perPage: positive(ctx.params.get('per_page'), PER_PAGE),
  };
  const cols = columns(proto, kind);

  const searchInput = h('input', {
    type: 'search', class: 'search-input', id: 'search', placeholder: 'Search',
    'aria-label': `Search ${title}`, value: state.search, autocomplete: 'off', spellcheck: 'false',
  });
  let debounce = null;
  const onSearch = () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      if (searchInput.value === state.search) return;
      state.search = searchInput.value;
      state.page = 1;
      changed();
    }, 250);
  };
  // `input` while typing; `change` too (a cleared field, or a value set by a script).
  searchInput.addEventListener('input', onSearch);
  searchInput.addEventListener('change', onSearch);

  const filterButtons = STATUS_FILTERS.map((f) => h('button', {
    type: 'button', class: 'filter', dataset: { status: f.value },
    'aria-pressed': String(state.status === f.value),
    onclick: () => {
      state.status = f.value;
      state.page = 1;
      changed();
    },
  }, f.label));

  const results = h('div', { class: 'results', 'aria-live': 'polite' }, notice('loading', 'Loading…'));
  const el = h('div', { class: 'page list', dataset: { proto, kind } },
    h('h1', { class: 'page-title' }, title),
    h('div', { class: 'toolbar' },
      h('div', { class: 'filters', role: 'group', 'aria-label': 'Status filter' }, filterButtons),
      h('label', { class: 'search' }, icon('search'), searchInput)),
    results);

  function changed() {
    if (ctx.signal.aborted) return; // a late debounce after leaving the page
    for (const b of filterButtons) b.setAttribute('aria-pressed', String(b.dataset.status === state.status));
    const params = new URLSearchParams();
    if (state.search) params.set('search', state.search);
    if (state.status) params.set('status', state.status);
    if (state.sortBy !== 'name' || state.direction !== 'asc') {
      params.set('sortBy', state.sortBy);
      params.set('direction', state.direction);
    }
    if (state.page !== 1) params.set('page', String(state.page));
    if (state.perPage !== PER_PAGE) params.set('per_page', String(state.perPage));
    ctx.setParams(params);
    ctx.refreshNow();
  }

  function sortBy(key) {
    if (state.sortBy === key) {
      state.direction = state.direction === 'asc' ? 'desc' : 'asc';
    } else {
      state.sortBy = key;
      state.direction = 'asc';
    }
    state.page = 1;
    changed();
  }

  let seq = 0;
  async function refresh() {
    const mine = ++seq;
    const query = {
      search: state.search,
      status: state.status,
      sortBy: state.sortBy,
      direction: state.direction,
      page: state.page,
      per_page: state.perPage,
    };
    let answer;
    try {
      answer = await request(`${proto}/${kind}`, query, ctx.signal);
    } catch (err) {
      if (mine !== seq) return;
      // A page past the end (objects went away since): back to the first page.
      if (err && err.status === 400 && state.page > 1) {
        state.page = 1;
        changed();
        return;
      }
      throw err;
    }
    if (mine !== seq) return; // a newer query (typing, sorting) is on its way
    const items = Array.isArray(answer.body) ? answer.body : [];
    const next = Number(answer.headers.get('X-Next-Page'));
    const hasNext = Number.isFinite(next) && next > 0 && answer.headers.has('X-Next-Page')
      ? next > state.page
      : items.length >= state.perPage;
    replace(results, items.length === 0
      ? notice('empty', state.search || state.status ? 'Nothing matches.' : `No ${KIND_LABEL[kind].toLowerCase()}.`)
      : table(items), pager(hasNext, items.length));
  }

  function table(items) {
    const head = h('tr', null, cols.map((c) => {
      const active = state.sortBy === c.key;
      return h('th', {
        class: c.cls, scope: 'col',
        'aria-sort': active ? (state.direction === 'asc' ? 'ascending' : 'descending') : null,
      }, h('button', { type: 'button', class: ['sort', active && 'active'], dataset: { sort: c.key }, onclick: () => sortBy(c.key) },
        c.label, icon(active ? (state.direction === 'asc' ? 'up' : 'down') : 'updown', 'sort-icon')));
    }));
    const body = h('tbody');
    for (const item of items) {
      const href = hashHref(proto, kind, item.name);
      const row = h('tr', {
        class: ['row', item.status && `status-${item.status}`], dataset: { name: item.name ?? '' },
        onclick: (ev) => {
          if (ev.target.closest('a, button') || String(window.getSelection() || '')) return;
          window.location.hash = href;
        },
      }, cols.map((c) => h('td', { class: c.cls }, c.cell(item))));
      body.append(row);
      const errs = rowErrors(item.error);
      if (errs) {
        body.append(h('tr', { class: ['row-errors', item.status === 'warning' ? 'warn' : 'err'], dataset: { name: item.name ?? '' } },
          h('td', { colspan: String(cols.length) }, icon(item.status === 'warning' ? 'warning' : 'error'), errs)));
      }
    }
    return h('div', { class: 'table-wrap card' }, h('table', { class: 'objects' }, h('thead', null, head), body));
  }

  function pager(hasNext, count) {
    if (state.page === 1 && !hasNext) return null;
    return h('div', { class: 'pager' },
      h('button', {
        type: 'button', class: 'button', id: 'page-prev', disabled: state.page <= 1,
        onclick: () => { state.page = Math.max(1, state.page - 1); changed(); },
      }, 'Previous'),
      h('span', { class: 'page-info' }, `Page ${state.page}`, h('small', null, ` (${count} shown)`)),
      h('button', {
        type: 'button', class: 'button', id: 'page-next', disabled: !hasNext,
        onclick: () => { state.page += 1; changed(); },
      }, 'Next'));
  }

  return { el, refresh };
}

function positive(v, fallback) {
  const n = Number.parseInt(v || '', 10);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}
