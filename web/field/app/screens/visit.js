// 随访 / 服务记录: a visit with range-checked measurements (app/measurements.js). What is
// outside the plausible range is refused here, while the doctor can still measure again.

import { html, useState } from '../html.js';
import { Frame, Field, Empty } from '../ui.js';
import { VISIT_KINDS } from '../labels.js';
import { MEASUREMENTS, REQUIRED_BY_KIND, checkMeasurements } from '../measurements.js';
import { controlled, RECALL_DAYS } from '../worklist.js';
import { ageOn, today, rfc3339China } from '../dates.js';
import { newId, record } from '../actions.js';
import { go } from '../routes.js';
import { setState } from '../state.js';

/** The kind a doctor most likely records for this resident. */
function likelyKind(r) {
  const tags = r.tags || [];
  if (tags.includes('hypertension')) return 'htn_followup';
  if (tags.includes('diabetes')) return 'dm_followup';
  if (r.birth_date && ageOn(r.birth_date, today()) >= 65) return 'elderly_check';
  return 'home_visit';
}

/**
 * `datetime-local` text (China time) as RFC 3339 `+08:00`; null when unreadable.
 * @param {string} local `YYYY-MM-DDTHH:MM`
 * @returns {string|null}
 */
export function localToRfc3339(local) {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})$/.exec(local || '');
  return m ? m[1] + 'T' + m[2] + ':' + m[3] + ':00+08:00' : null;
}

/** @param {{state: import('../state.js').AppState, id: string}} props */
export function VisitScreen({ state, id }) {
  const data = state.data;
  const r = data && data.residentById.get(id);
  const [kind, setKind] = useState(r ? likelyKind(r) : 'home_visit');
  const [typed, setTyped] = useState(/** @type {Object<string, string>} */ ({}));
  const [notes, setNotes] = useState('');
  const [when, setWhen] = useState(rfc3339China().slice(0, 16));
  const [errors, setErrors] = useState(/** @type {Object<string, string>} */ ({}));
  const [busy, setBusy] = useState(false);
  if (!r) return html`<${Frame} title="随访" route="visit" back="#/residents" state=${state}><${Empty} text="平板上没有这位居民。" /><//>`;
  const required = REQUIRED_BY_KIND[kind] || [];

  async function submit(ev) {
    ev.preventDefault();
    const check = checkMeasurements(kind, typed);
    const errs = { ...check.errors };
    const occurredAt = localToRfc3339(when);
    if (!occurredAt) errs.when = '请填写服务时间';
    else if (Date.parse(occurredAt) > Date.now() + 5 * 60 * 1000) errs.when = '服务时间不能晚于现在';
    if ([...notes].length > 2000) errs.notes = '备注最多2000字';
    setErrors(errs);
    if (Object.keys(errs).length) return;
    setBusy(true);
    try {
      const vid = newId();
      const contract = data.contractInEffect(id);
      /** @type {Object} */
      const d = { resident_id: id, kind, occurred_at: occurredAt, measurements: check.measurements };
      if (contract && contract.status !== 'PENDING_REVIEW') d.contract_id = contract.id;
      if (notes.trim()) d.notes = notes.trim();
      await record('visit', 'create', vid, d);
      setState({ flash: resultWords(kind, check.measurements) });
      go('resident', id);
    } catch (e) {
      setErrors({ form: '保存失败：' + ((e && e.message) || e) });
    } finally {
      setBusy(false);
    }
  }

  const field = (m) => html`
    <${Field} label=${m.label + '（' + m.unit + '，' + m.min + '–' + m.max + '）' + (required.includes(m.key) ? ' *必填' : '')} error=${errors[m.key]}>
      <input type="text" inputmode=${m.integer ? 'numeric' : 'decimal'} id=${'m-' + m.key} data-measure=${m.key}
        value=${typed[m.key] || ''} aria-invalid=${errors[m.key] ? 'true' : 'false'}
        onInput=${(e) => { setTyped({ ...typed, [m.key]: e.currentTarget.value }); setErrors(without(errors, m.key)); }} /><//>`;

  return html`
    <${Frame} title=${'服务记录 · ' + r.name} route="visit" back=${'#/residents/' + id} state=${state}>
      <form id="visit-form" onSubmit=${submit} novalidate>
        <${Field} label="服务类型">
          <select id="visit-kind" value=${kind} onChange=${(e) => { setKind(e.currentTarget.value); setErrors({}); }}>
            ${Object.entries(VISIT_KINDS).map(([k, label]) => html`<option value=${k}>${label}</option>`)}
          </select><//>
        <${Field} label="服务时间" error=${errors.when}>
          <input type="datetime-local" id="visit-when" value=${when} onInput=${(e) => setWhen(e.currentTarget.value)} /><//>
        <h3>测量值（没有测的不填）</h3>
        <div class="grid2">${MEASUREMENTS.map(field)}</div>
        <${Field} label="备注（可不填）" error=${errors.notes}>
          <textarea id="visit-notes" value=${notes} onInput=${(e) => setNotes(e.currentTarget.value)}></textarea><//>
        ${errors.form ? html`<p class="error" role="alert">${errors.form}</p>` : null}
        ${Object.keys(errors).length ? html`<p class="error" id="visit-error" role="alert">请改正标红的项目后再保存。</p>` : null}
        <button class="btn primary block" id="visit-submit" type="submit" disabled=${busy}>保存记录</button>
      </form>
    <//>`;
}

/**
 * The errors less the one of a field being corrected (a changed pressure also settles the
 * "diastolic below systolic" message).
 */
function without(errors, key) {
  const next = { ...errors };
  delete next[key];
  if (key === 'systolic') delete next.diastolic;
  delete next.form;
  return next;
}

/** What the doctor is told after saving a follow-up: controlled or not, and the recall. */
function resultWords(kind, m) {
  const cond = kind === 'htn_followup' ? 'hypertension' : kind === 'dm_followup' ? 'diabetes' : null;
  const saved = '已保存，记录在平板上，联网后上传。';
  if (!cond) return saved;
  const c = controlled(cond, m);
  if (c === false) return saved + (cond === 'hypertension' ? '血压未控制（≥140/90 mmHg）' : '血糖未控制（≥7.0 mmol/L）') + '：请在 ' + RECALL_DAYS + ' 天内复查。';
  if (c === true) return saved + (cond === 'hypertension' ? '血压已控制。' : '血糖已控制。');
  return saved;
}
