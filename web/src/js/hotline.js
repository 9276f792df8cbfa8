// The acceptor's hotline intake (issue 21): while the caller speaks the acceptor types
// the address, the candidates of GET /api/geocode show as they type (debounced), a
// click picks one (the point is set and shown on the queue map with its unit grid),
// then the case is filed with POST /api/cases (source hotline) and located and routed
// by the server like any report.

import { api, el } from './api.js';
import { t } from './i18n.js';
import { categoryName } from './casekit.js';
import { geocodeApi, gridOf, levelName } from './geocode-text.js';

/** Quiet time after the last keystroke before asking the geocoder. */
const DEBOUNCE_MS = 250;
/** Candidates shown. */
const SHOWN = 5;

/**
 * Builds the form into `root` (hidden behind a button). `categories()` gives the
 * category list, `onPlace([lon, lat])` shows a picked place, `onFiled(case)` runs after
 * a case was filed.
 */
export function setupHotline(root, { categories, onPlace = () => {}, onFiled = () => {} }) {
  let picked = null;
  let asked = 0;
  let timer = null;
  const address = el('input', { id: 'hotline-address', type: 'search', maxlength: '200', autocomplete: 'off', 'data-i18n-placeholder': 'hotlineAddressHint' });
  const candidates = el('ul', { id: 'hotline-candidates', class: 'list candidates', 'aria-live': 'polite' });
  const note = el('p', { id: 'hotline-note', class: 'muted' });
  const place = el('p', { id: 'hotline-picked', class: 'muted' });
  const category = el('select', { id: 'hotline-category', 'aria-label': 'category' });
  const description = el('textarea', { id: 'hotline-description', rows: '2', maxlength: '4000' });
  const caller = el('input', { id: 'hotline-caller', maxlength: '200', autocomplete: 'off' });
  const contact = el('input', { id: 'hotline-contact', maxlength: '200', autocomplete: 'off', inputmode: 'tel' });
  const result = el('p', { id: 'hotline-result', role: 'status' });
  const submit = el('button', { type: 'submit', id: 'hotline-submit', 'data-i18n': 'hotlineSubmit' }, t('hotlineSubmit'));
  const form = el('form', { id: 'hotline-form', class: 'hotline', hidden: true },
    el('p', { class: 'muted', 'data-i18n': 'hotlineHint' }, t('hotlineHint')),
    el('label', { class: 'field' }, el('span', { 'data-i18n': 'hotlineAddress' }, t('hotlineAddress')), address),
    note, candidates, place,
    el('label', { class: 'field' }, el('span', { 'data-i18n': 'hotlineCategory' }, t('hotlineCategory')), category),
    el('label', { class: 'field' }, el('span', { 'data-i18n': 'hotlineDescription' }, t('hotlineDescription')), description),
    el('div', { class: 'row' },
      el('label', { class: 'field' }, el('span', { 'data-i18n': 'hotlineCaller' }, t('hotlineCaller')), caller),
      el('label', { class: 'field' }, el('span', { 'data-i18n': 'hotlineContact' }, t('hotlineContact')), contact)),
    submit, result);
  const toggle = el('button', { type: 'button', id: 'hotline-open', class: 'secondary', 'data-i18n': 'hotlineOpen' }, t('hotlineOpen'));
  toggle.addEventListener('click', () => {
    form.hidden = !form.hidden;
    if (!form.hidden) {
      fillCategories();
      address.focus();
    }
  });
  root.replaceChildren(el('div', { class: 'row' }, el('h2', { 'data-i18n': 'hotline' }, t('hotline')), toggle), form);
  root.hidden = false;
  address.placeholder = t('hotlineAddressHint');

  function fillCategories() {
    const list = categories() || [];
    const chosen = category.value;
    category.replaceChildren(...list.map((c) => el('option', { value: c.code }, categoryName(list, c.code))));
    if (chosen) category.value = chosen;
  }

  function showPicked() {
    place.replaceChildren();
    if (!picked) return;
    const grid = picked.grid ? ` · ${t('unitGrid')} ${picked.grid}` : '';
    place.append(el('strong', {}, `${t('hotlinePicked')}: `), el('span', { id: 'hotline-picked-label' }, picked.label),
      ` (${picked.lon.toFixed(6)}, ${picked.lat.toFixed(6)})${grid}`);
  }

  function pick(c) {
    picked = { lon: c.point[0], lat: c.point[1], label: c.label, grid: gridOf(c) };
    for (const li of candidates.querySelectorAll('li')) li.classList.toggle('selected', li.dataset.label === c.label && li.dataset.lon === String(c.point[0]));
    showPicked();
    onPlace([picked.lon, picked.lat]);
  }

  async function lookUp() {
    const text = address.value.trim();
    const mine = ++asked;
    if (!text) {
      candidates.replaceChildren();
      note.textContent = '';
      return;
    }
    let answer;
    try {
      answer = await geocodeApi(text, { limit: SHOWN });
    } catch (e) {
      if (mine === asked) note.textContent = `${t('error')}: ${e.message}`;
      return;
    }
    if (mine !== asked) return; // a later keystroke's answer wins
    const list = (answer.candidates || []).filter((c) => c.score >= 0.4);
    note.textContent = !list.length ? t('hotlineNoCandidate') : answer.ambiguous ? t('hotlineAmbiguous') : '';
    note.className = !list.length || answer.ambiguous ? 'notice' : 'muted';
    candidates.replaceChildren(...list.map((c) => {
      const li = el('li', { dataset: { level: c.level, label: c.label, lon: String(c.point[0]) } },
        el('button', { type: 'button', class: 'link', onclick: () => pick(c) }, c.label,
          el('small', {}, ` ${levelName(c.level)} · ${Math.round(c.score * 100)}%${gridOf(c) ? ` · ${gridOf(c)}` : ''}`)));
      return li;
    }));
  }

  address.addEventListener('input', () => {
    picked = null;
    showPicked();
    clearTimeout(timer);
    timer = setTimeout(lookUp, DEBOUNCE_MS);
  });
  address.addEventListener('keydown', (e) => {
    // Enter picks the first candidate rather than submitting the form
    if (e.key !== 'Enter') return;
    e.preventDefault();
    const first = candidates.querySelector('li button');
    if (first) first.click();
  });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    result.className = '';
    if (!picked) {
      result.className = 'notice error';
      result.textContent = t('hotlinePickFirst');
      return;
    }
    submit.disabled = true;
    try {
      const c = await api('/api/cases', {
        method: 'POST',
        body: {
          category: category.value,
          lon: picked.lon,
          lat: picked.lat,
          address: picked.label,
          description: description.value.trim() || undefined,
          source: 'hotline',
          reporter_name: caller.value.trim() || undefined,
          reporter_contact: contact.value.trim() || undefined,
        },
      });
      result.className = 'notice';
      result.replaceChildren(`${t('hotlineFiled')}: `, el('strong', { id: 'hotline-case-no' }, c.case_no || String(c.id)),
        c.grid_code ? ` · ${t('unitGrid')} ${c.grid_code}` : '');
      for (const input of [address, description, caller, contact]) input.value = '';
      candidates.replaceChildren();
      note.textContent = '';
      picked = null;
      showPicked();
      await onFiled(c);
    } catch (err) {
      result.className = 'notice error';
      result.textContent = `${t('error')}: ${err.message}`;
    } finally {
      submit.disabled = false;
    }
  });
}
