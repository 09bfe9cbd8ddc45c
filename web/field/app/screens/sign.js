// 签约: the resident chooses packages from the catalog the server sent (the basic package
// always; client.packages(), docs/sync-protocol.md §7), signs on the screen, and the
// contract is queued SIGNED with the signature's sha256; the PNG itself is kept on the
// tablet (putBlob) and uploaded by the next sync. A contract already in effect is not
// signed twice (the server would hold the second for review): inside its last 30 days
// the new contract is a renewal (续约) starting the day after it ends.

import { html, useRef, useState } from '../html.js';
import { Frame, Empty } from '../ui.js';
import { CONTRACT_STATUS, yuan } from '../labels.js';
import { SignaturePad } from '../signature.js';
import { addDays, daysBetween, today } from '../dates.js';
import { newId, now, putBlob, record } from '../actions.js';
import { go } from '../routes.js';
import { setState } from '../state.js';
import { EXPIRING_WITHIN_DAYS } from '../worklist.js';

const NO_CATALOG = '平板上还没有服务包目录：请联网同步一次后再签约。';

/**
 * What signing means for a resident today.
 * @param {Object|null} inEffect the contract in effect, if any
 * @param {string} day today
 * @returns {{allowed: boolean, renews: (string|null), from: string, why: string}}
 */
export function signingPlan(inEffect, day) {
  if (!inEffect) return { allowed: true, renews: null, from: day, why: '' };
  if (inEffect.status === 'PENDING_REVIEW') {
    return { allowed: false, renews: null, from: day, why: '该居民有一份待督导审核的签约，审核结果出来前不能再签。' };
  }
  const left = inEffect.effective_to ? daysBetween(day, inEffect.effective_to) : Infinity;
  if (left <= EXPIRING_WITHIN_DAYS) {
    return { allowed: true, renews: inEffect.id, from: addDays(inEffect.effective_to, 1),
      why: '现有签约 ' + inEffect.effective_to + ' 到期（还有 ' + left + ' 天）：本次为续约，自 ' + addDays(inEffect.effective_to, 1) + ' 起生效。' };
  }
  return { allowed: false, renews: null, from: day,
    why: '该居民已有' + (CONTRACT_STATUS[inEffect.status] || '') + '的签约（' + inEffect.effective_from + ' 至 ' + inEffect.effective_to + '），到期前30天内才能续约。' };
}

/** @param {{state: import('../state.js').AppState, id: string}} props */
export function SignScreen({ state, id }) {
  const data = state.data;
  const r = data && data.residentById.get(id);
  // The personalised packages picked; basic ones are always in.
  const [picked, setPicked] = useState(/** @type {string[]} */ ([]));
  const [empty, setEmpty] = useState(true);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const pad = useRef(null);
  if (!r) return html`<${Frame} title="签约" route="sign" back="#/residents" state=${state}><${Empty} text="平板上没有这位居民。" /><//>`;
  const day = today();
  const plan = signingPlan(data.contractInEffect(id), day);
  const offered = data.packages.filter((p) => p.active);
  const chosenPackages = offered.filter((p) => p.basic || picked.includes(p.code));
  const chosen = chosenPackages.map((p) => p.code);
  const selfPay = chosenPackages.reduce((s, p) => s + p.selfPay, 0);

  function toggle(code, on) {
    setPicked(on ? [...picked, code] : picked.filter((c) => c !== code));
  }

  async function submit(ev) {
    ev.preventDefault();
    setError('');
    if (!state.user || !state.user.team_id) return setError('只有家医团队成员才能签约。');
    if (!offered.length) return setError(NO_CATALOG);
    if (!chosen.includes('BASIC')) return setError('必须包含基础公共卫生服务包。');
    if (empty || !pad.current || pad.current.isEmpty()) return setError('请居民先在签名区签名。');
    setBusy(true);
    try {
      const png = await pad.current.toPng();
      const sha = await putBlob(png, 'image/png');
      const cid = newId();
      /** @type {Object} */
      const d = {
        resident_id: id,
        team_id: state.user.team_id,
        doctor_id: state.user.id,
        packages: chosen,
        status: 'SIGNED',
        signed_at: now(),
        effective_from: plan.from,
        signature_sha256: sha,
      };
      if (plan.renews) d.renews = plan.renews;
      await record('contract', 'create', cid, d);
      setState({ flash: r.name + ' 已签约，协议和签名保存在平板上' + (state.online ? '。' : '，有网络后上传。') });
      go('resident', id);
    } catch (e) {
      setError('保存失败：' + ((e && e.message) || e));
    } finally {
      setBusy(false);
    }
  }

  return html`
    <${Frame} title=${'签约 · ' + r.name} route="sign" back=${'#/residents/' + id} state=${state}>
      ${plan.why ? html`<p class=${'notice' + (plan.allowed ? '' : ' warn')} id="sign-plan">${plan.why}</p>` : null}
      <form id="sign-form" onSubmit=${submit} novalidate>
        <h3>服务包</h3>
        ${offered.length ? null : html`<p class="notice warn" id="no-packages">${NO_CATALOG}</p>`}
        <div class="checks wide" id="packages">
          ${offered.map((p) => html`
            <label class=${'check' + (chosen.includes(p.code) ? ' on' : '') + (p.basic ? ' disabled' : '')}>
              <input type="checkbox" data-package=${p.code} checked=${chosen.includes(p.code)} disabled=${p.basic}
                onChange=${(e) => toggle(p.code, e.currentTarget.checked)} />
              <span>${p.name}<br /><span class="muted">${p.basic ? '免费，必选' : '定价 ' + yuan(p.price) + '，个人支付 ' + yuan(p.selfPay)}</span></span>
            </label>`)}
        </div>
        <p>个人支付合计：<b id="self-pay">${yuan(selfPay)}</b> · 生效日期 ${plan.from}，期限一年</p>
        <h3>居民签名</h3>
        <${SignaturePad} padRef=${pad} onChange=${(isEmpty) => { setEmpty(isEmpty); if (!isEmpty) setError(''); }} />
        ${error ? html`<p class="error" id="sign-error" role="alert">${error}</p>` : null}
        <button class="btn primary block" id="sign-submit" type="submit" disabled=${busy || !plan.allowed || !offered.length}>确认签约</button>
      </form>
    <//>`;
}
