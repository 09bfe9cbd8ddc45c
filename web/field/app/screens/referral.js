// 转诊登记: a referral up to a hospital (上转) or down from one back to the team (下转),
// recorded on the tablet like a visit and sent on the next sync. Its later steps — the
// hospital's confirmation, the return, the end — are buttons on the resident's page.

import { html, useState } from '../html.js';
import { Frame, Field, Empty } from '../ui.js';
import { REFERRAL_DIRECTIONS, REFERRAL_REASONS } from '../labels.js';
import { rfc3339China } from '../dates.js';
import { newId, record } from '../actions.js';
import { localToRfc3339 } from './visit.js';
import { go } from '../routes.js';
import { setState } from '../state.js';

/** The reason a doctor most likely refers this resident for: the work list's suggestion. */
function likelyReason(data, id) {
  const w = data.worklist();
  const s = w.referrals_suggested.find((e) => e.resident.id === id);
  if (!s) return 'specialist';
  return s.condition === 'diabetes' ? 'dm_uncontrolled' : 'htn_uncontrolled';
}

/** @param {{state: import('../state.js').AppState, id: string}} props */
export function ReferralScreen({ state, id }) {
  const data = state.data;
  const r = data && data.residentById.get(id);
  const [direction, setDirection] = useState('up');
  const [facility, setFacility] = useState('');
  const [code, setCode] = useState(r ? likelyReason(data, id) : 'specialist');
  const [reason, setReason] = useState('');
  const [when, setWhen] = useState(rfc3339China().slice(0, 16));
  const [errors, setErrors] = useState(/** @type {Object<string, string>} */ ({}));
  const [busy, setBusy] = useState(false);
  if (!r) return html`<${Frame} title="转诊" route="referral" back="#/residents" state=${state}><${Empty} text="平板上没有这位居民。" /><//>`;

  async function submit(ev) {
    ev.preventDefault();
    const errs = {};
    const referredAt = localToRfc3339(when);
    if (!referredAt) errs.when = '请填写转诊时间';
    else if (Date.parse(referredAt) > Date.now() + 5 * 60 * 1000) errs.when = '转诊时间不能晚于现在';
    const name = facility.trim();
    if (!name) errs.facility = '请填写医疗机构名称';
    else if ([...name].length > 100) errs.facility = '机构名称最多100字';
    if (code === 'other' && !reason.trim()) errs.reason = '选择“其他”时请写明原因';
    if ([...reason.trim()].length > 500) errs.reason = '原因最多500字';
    setErrors(errs);
    if (Object.keys(errs).length) return;
    setBusy(true);
    try {
      /** @type {Object} */
      const d = { resident_id: id, direction, facility: { name }, reason_code: code, referred_at: referredAt };
      if (reason.trim()) d.reason_text = reason.trim();
      const contract = data.contractInEffect(id);
      if (contract && contract.status !== 'PENDING_REVIEW') d.contract_id = contract.id;
      const last = data.visitsOf(id)[0];
      if (direction === 'up' && last && last._version !== null) d.visit_id = last.id;
      await record('referral', 'create', newId(), d);
      setState({ flash: '已保存转诊记录，联网后上传。' + (direction === 'up' ? '医院确认接收后，请在居民页点“已接收”。' : '请在14天内随访。') });
      go('resident', id);
    } catch (e) {
      setErrors({ form: '保存失败：' + ((e && e.message) || e) });
    } finally {
      setBusy(false);
    }
  }

  return html`
    <${Frame} title=${'转诊 · ' + r.name} route="referral" back=${'#/residents/' + id} state=${state}>
      <form id="referral-form" onSubmit=${submit} novalidate>
        <${Field} label="方向">
          <select id="referral-direction" value=${direction} onChange=${(e) => setDirection(e.currentTarget.value)}>
            ${Object.entries(REFERRAL_DIRECTIONS).map(([k, label]) => html`<option value=${k}>${label}</option>`)}
          </select><//>
        <${Field} label=${direction === 'up' ? '转往医疗机构' : '转出医疗机构'} error=${errors.facility}>
          <input type="text" id="referral-facility" value=${facility} placeholder="如：县人民医院"
            onInput=${(e) => setFacility(e.currentTarget.value)} /><//>
        <${Field} label="转诊原因">
          <select id="referral-reason-code" value=${code} onChange=${(e) => setCode(e.currentTarget.value)}>
            ${Object.entries(REFERRAL_REASONS).map(([k, label]) => html`<option value=${k}>${label}</option>`)}
          </select><//>
        <${Field} label=${code === 'other' ? '原因说明 *必填' : '原因说明（可不填）'} error=${errors.reason}>
          <textarea id="referral-reason" value=${reason} onInput=${(e) => setReason(e.currentTarget.value)}></textarea><//>
        <${Field} label="转诊时间" error=${errors.when}>
          <input type="datetime-local" id="referral-when" value=${when} onInput=${(e) => setWhen(e.currentTarget.value)} /><//>
        ${errors.form ? html`<p class="error" role="alert">${errors.form}</p>` : null}
        <button class="btn primary block" id="referral-submit" type="submit" disabled=${busy}>保存转诊</button>
      </form>
    <//>`;
}
