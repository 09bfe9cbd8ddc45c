// Pieces every screen uses: the page frame's heading, error and empty notes, a data hook,
// a pager, a modal dialog and labelled fields. Every action is a <button> or an <a href>.

import { html, useEffect, useRef, useState, useCallback } from './html.js';
import { errorText } from './labels.js';

/**
 * A screen's heading and body.
 * @param {{title: string, id?: string, actions?: any, children?: any, sub?: any}} props
 */
export function Page({ title, id, actions, sub, children }) {
  return html`
    <section class="page" id=${id || null}>
      <div class="page-head">
        <h2>${title}</h2>
        ${actions ? html`<div class="page-actions">${actions}</div>` : null}
      </div>
      ${sub ? html`<div class="page-sub">${sub}</div>` : null}
      ${children}
    </section>`;
}

/**
 * An API error in Chinese, with the server's code and message in small print.
 * @param {{error: any, id?: string}} props
 */
export function ErrorNote({ error, id }) {
  if (!error) return null;
  const code = error.code || '';
  return html`
    <p class="error" role="alert" id=${id || null} data-code=${code}>
      ${errorText(error)}
      ${code && error.message ? html` <small class="muted">（${code}：${error.message}）</small>` : null}
    </p>`;
}

/** @param {{text?: string}} props */
export function Loading({ text }) {
  return html`<p class="muted loading" role="status">${text || '正在读取…'}</p>`;
}

/** @param {{text: string, id?: string, data?: Object<string, string>}} props */
export function Empty({ text, id, data }) {
  const attrs = Object.fromEntries(Object.entries(data || {}).map(([k, v]) => ['data-' + k, v]));
  return html`<p class="muted empty" id=${id || null} ...${attrs}>${text}</p>`;
}

/**
 * Runs an async function when its inputs change; answers its result.
 * @template T
 * @param {() => Promise<T>} fn
 * @param {any[]} deps
 * @returns {{data: T|null, error: any, loading: boolean, reload: () => void, setData: (d: T) => void}}
 */
export function useAsync(fn, deps) {
  const [st, setSt] = useState({ data: null, error: null, loading: true });
  const [n, setN] = useState(0);
  const seq = useRef(0);
  useEffect(() => {
    const mine = ++seq.current;
    setSt((s) => ({ data: s.data, error: null, loading: true }));
    fn().then((data) => { if (mine === seq.current) setSt({ data, error: null, loading: false }); },
      (error) => { if (mine === seq.current) setSt({ data: null, error, loading: false }); });
  }, [...deps, n]);
  const reload = useCallback(() => setN((x) => x + 1), []);
  const setData = useCallback((data) => setSt({ data, error: null, loading: false }), []);
  return { ...st, reload, setData };
}

/**
 * Previous / next page buttons.
 * @param {{hasPrev: boolean, hasNext: boolean, onPrev: () => void, onNext: () => void, info?: string}} props
 */
export function Pager({ hasPrev, hasNext, onPrev, onNext, info }) {
  if (!hasPrev && !hasNext) return info ? html`<p class="muted pager-info">${info}</p>` : null;
  return html`
    <nav class="pager" aria-label="翻页">
      <button type="button" id="page-prev" disabled=${!hasPrev} onClick=${onPrev}>上一页</button>
      ${info ? html`<span class="muted">${info}</span>` : null}
      <button type="button" id="page-next" disabled=${!hasNext} onClick=${onNext}>下一页</button>
    </nav>`;
}

/**
 * A modal dialog (the browser's own <dialog>: focus stays inside, Esc closes it).
 * @param {{open: boolean, title: string, onClose: () => void, children: any, id?: string}} props
 */
export function Dialog({ open, title, onClose, children, id }) {
  const ref = useRef(null);
  useEffect(() => {
    const d = /** @type {any} */ (ref.current);
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return html`
    <dialog ref=${ref} id=${id || null} class="dialog" aria-label=${title}
      onCancel=${(e) => { e.preventDefault(); onClose(); }}>
      ${open ? html`
        <div class="dialog-head"><h3>${title}</h3>
          <button type="button" class="link close" aria-label="关闭" onClick=${onClose}>×</button></div>
        <div class="dialog-body">${children}</div>` : null}
    </dialog>`;
}

/**
 * A labelled control.
 * @param {{label: string, hint?: string, children: any, wide?: boolean}} props
 */
export function Field({ label, hint, children, wide }) {
  return html`
    <label class=${'field' + (wide ? ' wide' : '')}>
      <span class="lbl">${label}</span>
      ${children}
      ${hint ? html`<span class="muted hint">${hint}</span>` : null}
    </label>`;
}

/**
 * Label/value pairs.
 * @param {{rows: [string, any][], id?: string}} props
 */
export function KV({ rows, id }) {
  return html`
    <dl class="kv" id=${id || null}>
      ${rows.filter((r) => r).map(([k, v]) => html`<div class="kv-row"><dt>${k}</dt><dd>${v === null || v === undefined || v === '' ? '—' : v}</dd></div>`)}
    </dl>`;
}

/**
 * A short coloured label.
 * @param {{text: string, tone?: string}} props
 */
export function Chip({ text, tone }) {
  return html`<span class=${'chip ' + (tone || '')}>${text}</span>`;
}

/**
 * A form asking for a reason before an action; the action's button stays until the
 * reason is there (1–500 characters, as the API takes).
 * @param {{label: string, submitLabel: string, onSubmit: (reason: string) => Promise<void>, onCancel?: () => void, id?: string, placeholder?: string, danger?: boolean}} props
 */
export function ReasonForm({ label, submitLabel, onSubmit, onCancel, id, placeholder, danger }) {
  const [reason, setReason] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (ev) => {
    ev.preventDefault();
    const r = reason.trim();
    if (!r) { setError({ code: 'missing_field', message: '' }); return; }
    setBusy(true);
    setError(null);
    try { await onSubmit(r); } catch (e) { setError(e); } finally { setBusy(false); }
  };
  return html`
    <form class="reason-form" id=${id || null} onSubmit=${submit} novalidate>
      <${Field} label=${label} hint="必填，1–500 字，记入审计日志" wide>
        <textarea name="reason" required maxlength="500" rows="3" autofocus placeholder=${placeholder || ''}
          value=${reason} onInput=${(e) => { setReason(e.currentTarget.value); if (error && error.code === 'missing_field') setError(null); }}></textarea>
      <//>
      ${error && error.code === 'missing_field' && !error.message ? html`<p class="error" role="alert">请填写理由。</p>` : html`<${ErrorNote} error=${error} />`}
      <div class="buttons">
        <button type="submit" class=${danger ? 'danger' : 'primary'} disabled=${busy}>${busy ? '正在提交…' : submitLabel}</button>
        ${onCancel ? html`<button type="button" onClick=${onCancel}>取消</button>` : null}
      </div>
    </form>`;
}

/**
 * A stack of page cursors that starts over whenever `key` (the filters) changes.
 * @param {string} key
 * @returns {{cursor: string, depth: number, push: (c: string) => void, pop: () => void}}
 */
export function usePages(key) {
  const [st, setSt] = useState({ key, stack: /** @type {string[]} */ ([]) });
  const stack = st.key === key ? st.stack : [];
  return {
    cursor: stack[stack.length - 1] || '',
    depth: stack.length,
    push: (c) => setSt({ key, stack: [...stack, c] }),
    pop: () => setSt({ key, stack: stack.slice(0, -1) }),
  };
}
