// Small SVG bar charts, drawn by hand (no chart library).

const NS = 'http://www.w3.org/2000/svg';

function node(tag, attrs = {}, text) {
  const n = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  if (text !== undefined) n.textContent = text;
  return n;
}

/**
 * Horizontal grouped bars: rows [{label, values: [n, …]}], series [{name, colour}].
 * Returns an <svg> with a legend; every bar carries data-value for tests.
 */
export function barChart(rows, series, { width = 520, format = (v) => String(v), max } = {}) {
  const labelW = 150, barH = 14, gap = 10, top = 24;
  const groupH = series.length * barH + gap;
  const height = top + rows.length * groupH + 8;
  const top1 = max ?? Math.max(1, ...rows.flatMap((r) => r.values.filter((v) => v !== null && v !== undefined)));
  const svg = node('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img' });
  let x = labelW;
  for (const s of series) {
    svg.append(node('rect', { x, y: 4, width: 10, height: 10, fill: s.colour }));
    svg.append(node('text', { x: x + 14, y: 13 }, s.name));
    // CJK characters are about twice as wide as Latin ones.
    x += 30 + [...s.name].reduce((w, c) => w + (c.charCodeAt(0) > 0x2e80 ? 11 : 6), 0);
  }
  rows.forEach((r, ri) => {
    const y0 = top + ri * groupH;
    svg.append(node('text', { x: labelW - 6, y: y0 + (series.length * barH) / 2 + 4, 'text-anchor': 'end' }, r.label.length > 22 ? `${r.label.slice(0, 21)}…` : r.label));
    r.values.forEach((v, si) => {
      const value = v ?? 0;
      const w = Math.max(0, ((width - labelW - 60) * value) / top1);
      const bar = node('rect', { x: labelW, y: y0 + si * barH, width: w, height: barH - 2, fill: series[si].colour, 'data-value': value, 'data-series': series[si].name });
      bar.append(node('title', {}, `${r.label} · ${series[si].name}: ${v === null || v === undefined ? '—' : format(value)}`));
      svg.append(bar);
      svg.append(node('text', { x: labelW + w + 4, y: y0 + si * barH + barH - 4 }, v === null || v === undefined ? '—' : format(value)));
    });
  });
  return svg;
}
