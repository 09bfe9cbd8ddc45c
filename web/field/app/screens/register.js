// 登记居民: a new health record. The ID number is checked here (GB 11643, app/idnumber.js)
// and the birth date and sex are taken from it and shown, so a typo is caught in front of
// the resident's card rather than refused by the server at the next sync.

import { html, useState } from '../html.js';
import { Frame, Field } from '../ui.js';
import { checkIdNumber } from '../idnumber.js';
import { TAGS, SEX } from '../labels.js';
import { ageOn, today } from '../dates.js';
import { villageName } from '../data.js';
import { newId, record } from '../actions.js';
import { go } from '../routes.js';
import { setState } from '../state.js';

/**
 * Checks the register form; `errors` is empty when it can be queued.
 * @param {{name: string, idNumber: string, village: string, phone: string, household: string}} f
 * @param {string} day today
 */
export function checkRegistration(f, day) {
  /** @type {Object<string, string>} */
  const errors = {};
  const name = f.name.trim();
  if (!name) errors.name = '请填写姓名';
  else if ([...name].length > 50 || /[\u0000-\u001f\u007f]/.test(name)) errors.name = '姓名最多50个字';
  const id = checkIdNumber(f.idNumber, day);
  if (!id.ok) errors.idNumber = id.message;
  if (!f.village) errors.village = '请选择村（社区）';
  const phone = f.phone.trim();
  if (phone && !(phone.length >= 7 && phone.length <= 20 && /^[0-9+-]+$/.test(phone))) errors.phone = '电话应为7–20位数字';
  if ([...f.household.trim()].length > 64) errors.household = '户号最多64个字';
  return { errors, id };
}

/** @param {{state: import('../state.js').AppState}} props */
export function RegisterScreen({ state }) {
  const data = state.data;
  const villages = data ? data.villages : [];
  const [f, setF] = useState({ name: '', idNumber: '', village: villages.length === 1 ? villages[0] : '', phone: '', household: '' });
  const [tags, setTags] = useState(/** @type {string[]} */ ([]));
  const [errors, setErrors] = useState(/** @type {Object<string, string>} */ ({}));
  const [busy, setBusy] = useState(false);
  const day = today();
  const set = (k) => (e) => {
    setF({ ...f, [k]: e.currentTarget.value });
    // A field being corrected loses its old message; the rest stay until the next try.
    if (errors[k]) { const next = { ...errors }; delete next[k]; setErrors(next); }
  };
  const typed = f.idNumber.trim();
  const live = typed.length >= 15 ? checkIdNumber(typed, day) : null;

  async function submit(ev) {
    ev.preventDefault();
    const { errors: errs, id } = checkRegistration(f, day);
    setErrors(errs);
    if (Object.keys(errs).length || !id.ok) return;
    setBusy(true);
    try {
      const rid = newId();
      /** @type {Object} */
      const d = { village_code: f.village, name: f.name.trim(), sex: id.sex, birth_date: id.birthDate, id_number: id.value, tags };
      if (f.phone.trim()) d.phone = f.phone.trim();
      if (f.household.trim()) d.household_id = f.household.trim();
      await record('resident', 'create', rid, d);
      setState({ flash: '已登记 ' + d.name + '，记录保存在平板上' + (state.online ? '。' : '，有网络后上传。') });
      go('resident', rid);
    } catch (e) {
      setErrors({ form: '保存失败：' + ((e && e.message) || e) });
    } finally {
      setBusy(false);
    }
  }

  return html`
    <${Frame} title="登记居民" route="register" state=${state}>
      <form id="register-form" onSubmit=${submit} novalidate>
        <div class="wide2">
          <${Field} label="姓名" error=${errors.name}>
            <input type="text" id="reg-name" value=${f.name} onInput=${set('name')} aria-invalid=${errors.name ? 'true' : 'false'} /><//>
          <${Field} label="居民身份证号" error=${errors.idNumber}>
            <input type="text" id="reg-id-number" value=${f.idNumber} onInput=${set('idNumber')} maxlength="18"
              autocomplete="off" autocapitalize="characters" spellcheck="false" inputmode="text"
              aria-invalid=${errors.idNumber || (live && !live.ok) ? 'true' : 'false'} />
            ${live ? (live.ok
              ? html`<p class="derived" id="id-derived" data-birth-date=${live.birthDate} data-sex=${live.sex}>
                  出生日期 ${live.birthDate}（${ageOn(live.birthDate, day)}岁）· 性别 ${SEX[live.sex]}${live.converted ? ' · 已由15位转为18位：' + live.value : ''}</p>`
              : html`<p class="derived bad" id="id-derived" data-code=${live.code}>${live.message}</p>`) : null}
          <//>
        </div>
        <${Field} label="村（社区）" error=${errors.village}>
          <select id="reg-village" value=${f.village} onChange=${set('village')}>
            <option value="">请选择</option>
            ${villages.map((v) => html`<option value=${v}>${villageName(data, v)}</option>`)}
          </select><//>
        <div class="wide2">
          <${Field} label="户号（可不填）" error=${errors.household}>
            <input type="text" id="reg-household" value=${f.household} onInput=${set('household')} /><//>
          <${Field} label="电话（可不填）" error=${errors.phone}>
            <input type="tel" id="reg-phone" value=${f.phone} onInput=${set('phone')} inputmode="tel" /><//>
        </div>
        <h3>重点人群（按实际勾选；65岁以上、0–6岁儿童按出生日期自动判断）</h3>
        <div class="checks">
          ${Object.entries(TAGS).map(([code, label]) => html`
            <label class=${'check' + (tags.includes(code) ? ' on' : '')}>
              <input type="checkbox" data-tag=${code} checked=${tags.includes(code)}
                onChange=${(e) => setTags(e.currentTarget.checked ? [...tags, code] : tags.filter((t) => t !== code))} />${label}</label>`)}
        </div>
        ${errors.form ? html`<p class="error" role="alert">${errors.form}</p>` : null}
        ${Object.keys(errors).length ? html`<p class="error" id="register-error" role="alert">请改正标红的项目后再保存。</p>` : null}
        <button class="btn primary block" id="register-submit" type="submit" disabled=${busy}>保存档案</button>
      </form>
    <//>`;
}
