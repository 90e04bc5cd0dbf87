// A small line chart (SVG) of the last points of a series, with its text alternative.
import { h, svg } from './dom.js';

export interface Series {
  label: string;
  unit: string;
  points: number[];
}

const WIDTH = 240;
const HEIGHT = 48;

export function sparkline(s: Series): HTMLElement {
  const last = s.points.at(-1);
  const max = Math.max(1, ...s.points);
  const summary =
    s.points.length === 0
      ? `${s.label}: no data yet`
      : `${s.label}: now ${fmt(last!)} ${s.unit}, highest ${fmt(Math.max(...s.points))} ${s.unit} over the last ${s.points.length} samples`;
  const step = s.points.length > 1 ? WIDTH / (s.points.length - 1) : WIDTH;
  const coords = s.points
    .map((v, i) => `${(i * step).toFixed(1)},${(HEIGHT - 2 - (v / max) * (HEIGHT - 4)).toFixed(1)}`)
    .join(' ');
  return h(
    'figure',
    { class: 'chart' },
    svg(
      'svg',
      { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, width: WIDTH, height: HEIGHT, role: 'img', 'aria-label': summary },
      svg('polyline', { points: coords || `0,${HEIGHT - 2} ${WIDTH},${HEIGHT - 2}`, fill: 'none', class: 'line' }),
    ),
    h('figcaption', {}, s.label, ': ', h('strong', {}, last === undefined ? '–' : `${fmt(last)} ${s.unit}`)),
  );
}

function fmt(v: number): string {
  return v >= 100 ? v.toFixed(0) : v.toFixed(1);
}
