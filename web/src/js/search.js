// Search by grid code, component id, case number or place name, through the OGC
// API – Features items of the catalogue's layers:
//   16 digits            → components?component_id=…        (property equality)
//   14/15 digits         → unit_grids?code=… (14 digits: the older form, by prefix)
//   yyyy-nnnnnn          → cases?case_no=…
//   anything else        → every layer with a `name` field, filter=name LIKE '%…%'
// Results are {label, source, geometry}.

import { authHeaders } from './mapkit.js';

async function items(layer, params) {
  const url = `/ogc/collections/${encodeURIComponent(layer)}/items?${new URLSearchParams({ limit: '10', ...params })}`;
  const response = await fetch(url, { headers: { Accept: 'application/geo+json', ...authHeaders(url, '') } });
  if (!response.ok) return [];
  const body = await response.json();
  return body.features || [];
}

function hit(feature, layer, labelField) {
  const p = feature.properties || {};
  const label = p[labelField] || p.name || p.code || p.case_no || p.component_id || String(feature.id);
  const extra = p.name && labelField !== 'name' ? ` ${p.name}` : '';
  return { label: `${label}${extra}`, source: layer.title || layer.id, geometry: feature.geometry, layer: layer.id };
}

function hasField(layer, name) {
  return (layer.fields || []).some((f) => (f.name || f) === name);
}

function quote(text) {
  return text.replace(/'/g, "''").replace(/[%_\\]/g, (c) => `\\${c}`);
}

/** Searches the catalogue's layers for `text`. */
export async function search(map, layers, text) {
  const byId = Object.fromEntries(layers.map((l) => [l.id, l]));
  const tasks = [];
  const digits = /^\d+$/.test(text);
  if (digits && text.length === 16) {
    for (const l of layers.filter((l) => hasField(l, 'component_id'))) {
      tasks.push(items(l.id, { component_id: text }).then((fs) => fs.map((f) => hit(f, l, 'component_id'))));
    }
  } else if (digits && (text.length === 15 || text.length === 14)) {
    const grids = layers.filter((l) => l.id === 'unit_grids' || (hasField(l, 'code') && /grid/.test(l.id)));
    for (const l of grids) {
      const params = text.length === 15 ? { code: text } : { filter: `code LIKE '${text.slice(0, 12)}%'`, 'filter-lang': 'cql2-text' };
      tasks.push(items(l.id, params).then((fs) => fs
        .filter((f) => text.length === 15 || Number(String(f.properties.code).slice(12)) === Number(text.slice(12)))
        .map((f) => hit(f, l, 'code'))));
    }
  } else if (/^\d{4}-\d+$/.test(text) && byId.cases) {
    tasks.push(items('cases', { case_no: text }).then((fs) => fs.map((f) => hit(f, byId.cases, 'case_no'))));
  }
  if (!tasks.length) {
    for (const l of layers.filter((l) => l.kind === 'vector' && hasField(l, 'name'))) {
      tasks.push(items(l.id, { filter: `name LIKE '%${quote(text)}%'`, 'filter-lang': 'cql2-text' })
        .then((fs) => fs.map((f) => hit(f, l, 'name'))));
    }
  }
  const results = (await Promise.all(tasks.map((p) => p.catch(() => [])))).flat();
  return results.filter((r) => r.geometry);
}
