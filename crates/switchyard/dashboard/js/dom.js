// DOM helpers. Every string that comes from the API (names, rules, errors, URLs...) reaches the
// page through `textContent` / text nodes or `setAttribute`, never through HTML parsing: the
// dashboard has no HTML-string sink at all (a unit test in src/api/dashboard.rs checks).

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * Creates an element. `props`: `class`, `text` (textContent), `dataset` (object), `on<event>`
 * (listener), anything else becomes an attribute (`true` → empty attribute, `false`/`null`/
 * `undefined` → omitted). Children: nodes, strings (as text), arrays, null/false (skipped).
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  appendChildren(el, children);
  return el;
}

function setProps(el, props) {
  if (!props) return;
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') {
      el.setAttribute('class', Array.isArray(value) ? value.filter(Boolean).join(' ') : value);
    } else if (key === 'text') {
      el.textContent = String(value);
    } else if (key === 'dataset') {
      for (const [k, v] of Object.entries(value)) el.dataset[k] = String(v);
    } else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
}

/** Appends children (nodes, or anything else as a text node). */
export function appendChildren(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** A name as text, with a line-break opportunity before its `@provider`. */
export function nameText(name) {
  const s = String(name ?? '');
  const at = s.lastIndexOf('@');
  if (at <= 0) return document.createTextNode(s);
  const frag = document.createDocumentFragment();
  frag.append(document.createTextNode(s.slice(0, at)), document.createElement('wbr'), document.createTextNode(s.slice(at)));
  return frag;
}

/** Replaces all children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  appendChildren(el, children);
  return el;
}

/** A hash link: `#/` + segments, each one URL-escaped. */
export function hashHref(...segments) {
  return '#/' + segments.map((s) => encodeURIComponent(s)).join('/');
}

// Icon paths (24×24, stroked), drawn for this dashboard.
const ICONS = {
  home: ['M3 11l9-7 9 7', 'M5 10v10h5v-6h4v6h5V10'],
  router: ['M4 12h6', 'M14 6h6', 'M14 18h6', 'M10 12l4-6', 'M10 12l4 6'],
  service: ['M4 5h16v5H4z', 'M4 14h16v5H4z', 'M7 7.5h.01', 'M7 16.5h.01'],
  middleware: ['M12 3l8 4.5v9L12 21l-8-4.5v-9z', 'M12 12l8-4.5', 'M12 12v9', 'M12 12L4 7.5'],
  ok: ['M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18z', 'M8 12.5l3 3 5-6'],
  warning: ['M12 3l10 18H2z', 'M12 10v5', 'M12 18h.01'],
  error: ['M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18z', 'M9 9l6 6', 'M15 9l-6 6'],
  shield: ['M12 3l8 3v6c0 5-3.5 8-8 9-4.5-1-8-4-8-9V6z', 'M9 12l2 2 4-4'],
  sun: ['M12 8a4 4 0 1 0 0 8a4 4 0 1 0 0-8z', 'M12 2v2', 'M12 20v2', 'M2 12h2', 'M20 12h2',
    'M4.9 4.9l1.4 1.4', 'M17.7 17.7l1.4 1.4', 'M4.9 19.1l1.4-1.4', 'M17.7 6.3l1.4-1.4'],
  moon: ['M20 14.5A8 8 0 0 1 9.5 4a8 8 0 1 0 10.5 10.5z'],
  auto: ['M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18z', 'M12 3v18', 'M12 7h5', 'M12 11h8', 'M12 15h7'],
  pause: ['M8 5v14', 'M16 5v14'],
  play: ['M7 4l13 8-13 8z'],
  arrow: ['M4 12h15', 'M13 6l6 6-6 6'],
  search: ['M11 4a7 7 0 1 0 0 14a7 7 0 1 0 0-14z', 'M20 20l-4-4'],
  up: ['M12 19V5', 'M6 11l6-6 6 6'],
  down: ['M12 5v14', 'M6 13l6 6 6-6'],
  updown: ['M8 9l4-4 4 4', 'M8 15l4 4 4-4'],
  entrypoint: ['M3 12h12', 'M11 8l4 4-4 4', 'M15 4h5v16h-5'],
  server: ['M5 4h14v6H5z', 'M5 14h14v6H5z'],
  provider: ['M6 3h9l4 4v14H6z', 'M14 3v5h5'],
  feature: ['M12 3l2.6 5.6 6.1.7-4.5 4.2 1.2 6-5.4-3-5.4 3 1.2-6-4.5-4.2 6.1-.7z'],
};

/** An inline SVG icon built with DOM calls. */
export function icon(name, extraClass) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', extraClass ? `icon ${extraClass}` : 'icon');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  for (const d of ICONS[name] || []) {
    const path = document.createElementNS(SVG_NS, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}

/** A donut chart of [{value, cls}] (SVG circles, one stroke segment each). */
export function donut(segments, label) {
  const size = 120;
  const r = 46;
  const circumference = 2 * Math.PI * r;
  const total = segments.reduce((n, s) => n + s.value, 0);
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${size} ${size}`);
  svg.setAttribute('class', 'donut');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  const ring = (cls, dash, offset) => {
    const c = document.createElementNS(SVG_NS, 'circle');
    c.setAttribute('cx', String(size / 2));
    c.setAttribute('cy', String(size / 2));
    c.setAttribute('r', String(r));
    c.setAttribute('class', cls);
    if (dash !== undefined) {
      c.setAttribute('stroke-dasharray', dash);
      c.setAttribute('stroke-dashoffset', String(offset));
    }
    return c;
  };
  svg.append(ring('donut-track'));
  let start = 0;
  if (total > 0) {
    for (const s of segments) {
      if (s.value <= 0) continue;
      const len = (s.value / total) * circumference;
      svg.append(ring(`donut-seg ${s.cls}`, `${len} ${circumference - len}`, -start));
      start += len;
    }
  }
  const text = document.createElementNS(SVG_NS, 'text');
  text.setAttribute('x', String(size / 2));
  text.setAttribute('y', String(size / 2));
  text.setAttribute('class', 'donut-total');
  text.setAttribute('text-anchor', 'middle');
  text.setAttribute('dominant-baseline', 'central');
  text.textContent = String(total);
  svg.append(text);
  return svg;
}
