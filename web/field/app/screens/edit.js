// 修改档案: phone, household and key-population marks. Only the fields the doctor
// changed are sent, with the version the edit started from, so the server merges field by
// field and two tablets editing different fields never clash (docs/sync-protocol.md §2,
// "Update a resident"). Name, sex, birth date and ID number are not edited here: those
// need the resident's card and go with the ID number (id_number_required).

import { html, useState } from '../html.js';
import { Frame, Field, Empty } from '../ui.js';
import { TAGS } from '../labels.js';
import { record } from '../actions.js';
import { go } from '../routes.js';
import { setState } from '../state.js';

/** @param {{state: import('../state.js').AppState, id: string}} props */
export function EditScreen({ state, id }) {
  const data = state.data;
  const r = data && data.residentById.get(id);
  const [phone, setPhone] = useState(r ? r.phone || '' : '');
  const [household, setHousehold] = useState(r ? r.household_id || '' : '');
  const [tags, setTags] = useState(r ? (r.tags || []).slice() : []);
  const [error, setError] = useState('');
  if (!r) return html`<${Frame} title="修改档案" route="edit" back="#/residents" state=${state}><${Empty} text="平板上没有这位居民。" /><//>`;

  async function submit(ev) {
    ev.preventDefault();
    const changes = {};
    const p = phone.trim();
    if (p !== (r.phone || '')) {
      if (p && !(p.length >= 7 && p.length <= 20 && /^[0-9+-]+$/.test(p))) return setError('电话应为7–20位数字');
      changes.phone = p || null;
    }
    const h = household.trim();
    if (h !== (r.household_id || '')) changes.household_id = h || null;
    const before = (r.tags || []).slice().sort().join(',');
    if (tags.slice().sort().join(',') !== before) changes.tags = tags.slice().sort();
    if (Object.keys(changes).length === 0) return setError('没有改动。');
    // The version the edit started from: the server's, or 1 for a record whose
    // registration has not gone up yet (it becomes version 1 when it does).
    const baseVersion = r._version ?? r.version ?? 1;
    await record('resident', 'update', id, changes, { baseVersion });
    setState({ flash: '已保存修改' + (state.online ? '。' : '，有网络后上传。') });
    go('resident', id);
  }

  return html`
    <${Frame} title=${'修改档案 · ' + r.name} route="edit" back=${'#/residents/' + id} state=${state}>
      <form id="edit-form" onSubmit=${submit} novalidate>
        <${Field} label="电话">
          <input type="tel" id="edit-phone" value=${phone} onInput=${(e) => setPhone(e.currentTarget.value)} inputmode="tel" /><//>
        <${Field} label="户号">
          <input type="text" id="edit-household" value=${household} onInput=${(e) => setHousehold(e.currentTarget.value)} /><//>
        <h3>重点人群</h3>
        <div class="checks">
          ${Object.entries(TAGS).map(([code, label]) => html`
            <label class=${'check' + (tags.includes(code) ? ' on' : '')}>
              <input type="checkbox" data-tag=${code} checked=${tags.includes(code)}
                onChange=${(e) => setTags(e.currentTarget.checked ? [...tags, code] : tags.filter((t) => t !== code))} />${label}</label>`)}
        </div>
        <p class="muted">姓名、性别、出生日期和身份证号需对照身份证更正，请联系乡镇督导。</p>
        ${error ? html`<p class="error" role="alert">${error}</p>` : null}
        <button class="btn primary block" id="edit-submit" type="submit">保存修改</button>
      </form>
    <//>`;
}
