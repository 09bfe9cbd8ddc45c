// The resident's signature drawn with a finger (or a mouse) on a canvas, kept as a PNG
// blob: the contract names it by sha256 (`signature_sha256`) and the bytes go up when the
// network allows (docs/sync-protocol.md §5).

import { html, useEffect, useRef, useState } from './html.js';

/**
 * Attaches drawing to a canvas: pointer events, so a finger, a stylus and a mouse all
 * draw; the canvas is sized in device pixels so the strokes are sharp on the PNG.
 * @param {HTMLCanvasElement} canvas
 * @param {() => void} onStroke called after each stroke
 * @returns {{clear: () => void, isEmpty: () => boolean, toPng: () => Promise<Uint8Array>, detach: () => void}}
 */
export function attachPad(canvas, onStroke) {
  const ratio = Math.max(1, Math.min(window.devicePixelRatio || 1, 2));
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
  let strokes = 0;
  let drawing = false;
  let last = null;

  function reset() {
    const w = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const h = Math.max(1, Math.round(canvas.clientHeight * ratio));
    canvas.width = w;
    canvas.height = h;
    // White, not transparent: the PNG is printed and shown on white paper.
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, w, h);
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.lineWidth = 3 * ratio;
    ctx.strokeStyle = '#111';
    strokes = 0;
  }

  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    return { x: (e.clientX - r.left) * ratio, y: (e.clientY - r.top) * ratio };
  };
  const down = (e) => {
    e.preventDefault();
    drawing = true;
    last = at(e);
    try { canvas.setPointerCapture(e.pointerId); } catch (_) { /* not capturable: fine */ }
    ctx.beginPath();
    ctx.arc(last.x, last.y, ctx.lineWidth / 2, 0, Math.PI * 2);
    ctx.fillStyle = '#111';
    ctx.fill();
  };
  const move = (e) => {
    if (!drawing) return;
    e.preventDefault();
    const p = at(e);
    ctx.beginPath();
    ctx.moveTo(last.x, last.y);
    ctx.lineTo(p.x, p.y);
    ctx.stroke();
    last = p;
  };
  const up = () => {
    if (!drawing) return;
    drawing = false;
    strokes++;
    onStroke();
  };
  canvas.addEventListener('pointerdown', down);
  canvas.addEventListener('pointermove', move);
  canvas.addEventListener('pointerup', up);
  canvas.addEventListener('pointercancel', up);
  canvas.addEventListener('pointerleave', up);
  reset();

  return {
    clear: reset,
    isEmpty: () => strokes === 0,
    toPng: () =>
      new Promise((resolve, reject) => {
        canvas.toBlob((blob) => {
          if (!blob) return reject(new Error('签名图片生成失败'));
          blob.arrayBuffer().then((b) => resolve(new Uint8Array(b)), reject);
        }, 'image/png');
      }),
    detach: () => {
      canvas.removeEventListener('pointerdown', down);
      canvas.removeEventListener('pointermove', move);
      canvas.removeEventListener('pointerup', up);
      canvas.removeEventListener('pointercancel', up);
      canvas.removeEventListener('pointerleave', up);
    },
  };
}

/**
 * The signature pad component.
 * @param {{padRef: {current: any}, onChange: (empty: boolean) => void}} props `padRef.current`
 *   receives the pad (see {@link attachPad}) so the form can read the PNG
 */
export function SignaturePad({ padRef, onChange }) {
  const canvas = useRef(null);
  const [empty, setEmpty] = useState(true);
  useEffect(() => {
    const pad = attachPad(canvas.current, () => { setEmpty(false); onChange(false); });
    padRef.current = pad;
    return () => pad.detach();
  }, []);
  const clear = () => {
    padRef.current.clear();
    setEmpty(true);
    onChange(true);
  };
  return html`
    <div class="sigpad">
      <canvas ref=${canvas} id="signature" aria-label="居民签名区" data-empty=${empty ? 'true' : 'false'}></canvas>
      ${empty ? html`<div class="hint">请居民在此处用手指签名</div>` : null}
    </div>
    <button type="button" class="btn" id="signature-clear" onClick=${clear}>重新签名</button>`;
}
