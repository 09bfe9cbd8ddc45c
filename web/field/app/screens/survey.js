// 满意度调查: the questions of the questionnaire version the server sent (bootstrap's last
// page, then GET /questionnaires at each sync), options shown by their Chinese labels
// (`option_texts`). The response names that version: the server checks it against it
// (docs/domain.md §5), so the tablet never mixes items of two versions.

import { html, useState } from '../html.js';
import { Frame, Empty } from '../ui.js';
import { newId, now, record } from '../actions.js';
import { go } from '../routes.js';
import { setState } from '../state.js';

/**
 * The newest version of each questionnaire held, `satisfaction` first.
 * @param {Object[]} all every version (`QuestionnaireView`)
 * @returns {Object[]}
 */
export function latestVersions(all) {
  const newest = new Map();
  for (const q of all || []) {
    if (!q || !q.definition || !Array.isArray(q.definition.items)) continue;
    const held = newest.get(q.code);
    if (!held || q.version > held.version) newest.set(q.code, q);
  }
  return [...newest.values()].sort((a, b) => (a.code === 'satisfaction' ? -1 : b.code === 'satisfaction' ? 1 : a.code < b.code ? -1 : 1));
}

/** @param {{state: import('../state.js').AppState, id: string}} props */
export function SurveyScreen({ state, id }) {
  const data = state.data;
  const r = data && data.residentById.get(id);
  const versions = data ? latestVersions(data.questionnaires) : [];
  const [code, setCode] = useState(versions.length ? versions[0].code : '');
  const [answers, setAnswers] = useState(/** @type {Object<string, string>} */ ({}));
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  if (!r) return html`<${Frame} title="满意度调查" route="survey" back="#/residents" state=${state}><${Empty} text="平板上没有这位居民。" /><//>`;
  const q = versions.find((v) => v.code === code) || versions[0];
  if (!q) {
    return html`<${Frame} title="满意度调查" route="survey" back=${'#/residents/' + id} state=${state}>
      <${Empty} text="平板上还没有问卷：请联网后同步一次。" /><//>`;
  }

  async function submit(ev) {
    ev.preventDefault();
    if (Object.keys(answers).length === 0) return setError('请至少回答一题。');
    setBusy(true);
    try {
      await record('survey', 'create', newId(), {
        resident_id: id,
        questionnaire: q.code,
        questionnaire_version: q.version,
        answers,
        answered_at: now(),
      });
      setState({ flash: '调查已保存，联网后上传。' });
      go('resident', id);
    } catch (e) {
      setError('保存失败：' + ((e && e.message) || e));
    } finally {
      setBusy(false);
    }
  }

  return html`
    <${Frame} title=${'满意度调查 · ' + r.name} route="survey" back=${'#/residents/' + id} state=${state}>
      ${versions.length > 1 ? html`
        <div class="chips" style="margin:8px 0">${versions.map((v) => html`
          <button type="button" class=${'btn' + (v.code === q.code ? ' primary' : '')} onClick=${() => { setCode(v.code); setAnswers({}); }}>${v.title || v.code}</button>`)}</div>` : null}
      <form id="survey-form" onSubmit=${submit} data-questionnaire=${q.code} data-version=${String(q.version)}>
        <p class="muted">${q.title || q.code} · 第 ${q.version} 版 · 请逐题念给居民听，按居民的回答选择</p>
        ${q.definition.items.map((item, n) => html`
          <fieldset class="card" data-item=${item.code}>
            <legend class="row-title">${n + 1}. ${item.text}</legend>
            <div class="options">
              ${item.options.map((opt) => html`
                <label class=${'check' + (answers[item.code] === opt ? ' on' : '')}>
                  <input type="radio" name=${'q-' + item.code} value=${opt} data-option=${opt} checked=${answers[item.code] === opt}
                    onChange=${() => setAnswers({ ...answers, [item.code]: opt })} />
                  ${(item.option_texts && item.option_texts[opt]) || opt}</label>`)}
            </div>
          </fieldset>`)}
        ${error ? html`<p class="error" id="survey-error" role="alert">${error}</p>` : null}
        <button class="btn primary block" id="survey-submit" type="submit" disabled=${busy}>保存调查</button>
      </form>
    <//>`;
}
