// The only way the dashboard makes DOM: elements by name, attributes with setAttribute, text as text
// nodes. Nothing here parses markup, so server data can never become script (the page's CSP also
// forbids string-to-DOM sinks through Trusted Types).

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined>;

const SVG_NS = 'http://www.w3.org/2000/svg';

function fill(el: Element, attrs: Attrs, children: Child[]): void {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === 'number' ? String(child) : child);
  }
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  fill(el, attrs, children);
  return el;
}

export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  fill(el, attrs, children);
  return el;
}

/** A link inside the dashboard: the route is built from encoded parts, never taken from data as a URL. */
export function link(route: readonly (string | number)[], ...children: Child[]): HTMLAnchorElement {
  return h('a', { href: routeHref(route) }, ...children);
}

export function routeHref(route: readonly (string | number)[]): string {
  return `#/${route.map((p) => encodeURIComponent(String(p))).join('/')}`;
}

export function button(label: string, onClick: () => void, attrs: Attrs = {}): HTMLButtonElement {
  const b = h('button', { type: 'button', ...attrs }, label);
  b.addEventListener('click', onClick);
  return b;
}

/** Children for replaceChildren/append, without the absent ones. */
export function kids(...children: Child[]): (Node | string)[] {
  return children.filter((c) => c !== null && c !== undefined && c !== false).map((c) => (typeof c === 'number' ? String(c) : c));
}

/** One line of a JSON value as text, cut to `max` characters. */
export function preview(value: unknown, max = 96): string {
  const text = JSON.stringify(value) ?? '';
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function shortHash(hex: string): string {
  return `${hex.slice(0, 8)}…${hex.slice(-4)}`;
}

/** "12 s", "4 min", "3 h", "2 d" since `iso`. */
export function age(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 90) return `${s} s`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
