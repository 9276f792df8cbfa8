// Cases on the map by status, overdue ones with a red halo: restyles the `cases`
// layer of the catalogue (kept in step with the case table by the server).

import { el } from './api.js';
import { statusName, t } from './i18n.js';

/** The colour of each case status. */
export const STATUS_COLOURS = {
  reported: '#868e96',
  verifying: '#adb5bd',
  verified: '#74c0fc',
  registered: '#1c7ed6',
  dispatched: '#7048e8',
  handling: '#f59f00',
  suspended: '#495057',
  handled: '#40c057',
  checking: '#12b886',
  checked: '#0ca678',
  returned: '#e8590c',
  closed: '#2b8a3e',
  voided: '#ced4da',
};

/** A MapLibre expression: the colour of a feature's status. */
export function statusColourExpression() {
  const expr = ['match', ['get', 'status']];
  for (const [s, c] of Object.entries(STATUS_COLOURS)) expr.push(s, c);
  expr.push('#888');
  return expr;
}

/** Restyles the cases layer of `map` (if the style has one) and fills the legend. */
export async function showCases(map, layers) {
  const styleLayer = map.getStyle().layers.find((l) => l['source-layer'] === 'cases' && l.type === 'circle');
  if (!styleLayer) return false;
  const overdue = ['==', ['to-string', ['get', 'overdue']], 'true'];
  map.addLayer({
    id: 'cases-overdue-halo',
    type: 'circle',
    source: styleLayer.source,
    'source-layer': 'cases',
    filter: overdue,
    paint: { 'circle-radius': 13, 'circle-color': '#e03131', 'circle-opacity': 0.35, 'circle-blur': 0.3 },
  }, styleLayer.id);
  map.setPaintProperty(styleLayer.id, 'circle-color', statusColourExpression());
  map.setPaintProperty(styleLayer.id, 'circle-radius', ['case', overdue, 7, 5.5]);
  map.setPaintProperty(styleLayer.id, 'circle-stroke-color', ['case', overdue, '#c92a2a', '#ffffff']);
  map.setPaintProperty(styleLayer.id, 'circle-stroke-width', ['case', overdue, 2.5, 1.5]);
  const legend = document.getElementById('case-legend');
  if (legend) {
    const render = () => {
      const shown = ['reported', 'registered', 'dispatched', 'handling', 'handled', 'checking', 'returned', 'suspended', 'closed'];
      legend.replaceChildren(el('strong', {}, t('legendCases')), el('ul', {}, shown.map((s) => {
        const dot = el('span', { class: 'dot' });
        dot.style.background = STATUS_COLOURS[s];
        return el('li', {}, dot, statusName(s));
      }), el('li', {}, el('span', { class: 'dot dot-overdue' }), t('overdue'))));
      legend.hidden = false;
    };
    render();
    document.getElementById('lang')?.addEventListener('click', render);
  }
  return true;
}
