// The public API, and nothing else. Every URL is relative to the page, which is served at
// `<basePath>/dashboard/`, so the API is `<basePath>/api/...` whatever the base path is.

const API_BASE = new URL('../api/', document.baseURI);

/** An API answer that was not 2xx (`status` 0: the request itself failed). */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

/**
 * GET `path` (relative to the API root, no leading slash) with the given query parameters
 * (empty values are left out). Returns `{ body, headers }`; throws ApiError, or the AbortError
 * of `signal`.
 */
export async function request(path, params, signal) {
  const url = new URL(path, API_BASE);
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== '') {
      url.searchParams.set(key, String(value));
    }
  }
  let response;
  try {
    response = await fetch(url, {
      signal,
      cache: 'no-store',
      headers: { Accept: 'application/json' },
    });
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError(0, `the API cannot be reached (${url.pathname})`);
  }
  const text = await response.text();
  let body = null;
  let parsed = false;
  try {
    body = text ? JSON.parse(text) : null;
    parsed = true;
  } catch {
    // Not JSON: reported below.
  }
  if (!response.ok) {
    const message = (parsed && body && typeof body.message === 'string')
      ? body.message
      : (text.trim() || response.statusText || `HTTP ${response.status}`);
    throw new ApiError(response.status, message);
  }
  if (!parsed) throw new ApiError(response.status, `the API answered with invalid JSON (${url.pathname})`);
  return { body, headers: response.headers };
}

/** GET and return the body only. */
export async function get(path, params, signal) {
  return (await request(path, params, signal)).body;
}

/** The item endpoint of one object: `http/routers/foo%40file`. */
export function itemPath(proto, kind, name) {
  return `${proto}/${kind}/${encodeURIComponent(name)}`;
}

/**
 * Looks an object up by exact name through the list endpoint's search (answers 200 with `[]`
 * for an unknown name, where the item endpoint would answer 404 — an object referenced by a
 * broken router may not exist). Returns the object or null.
 */
export async function findByName(proto, kind, name, signal) {
  const list = await get(`${proto}/${kind}`, { search: name, per_page: 100 }, signal);
  if (!Array.isArray(list)) return null;
  return list.find((item) => item && item.name === name) || null;
}
