// Preact + htm: tagged templates instead of JSX, so the app runs as written (no build
// step) under the page's CSP (no eval, no inline script). Text in `${…}` is set as text,
// never parsed as HTML.

import { h, render, Fragment } from '../vendor/preact/preact.mjs';
import { useState, useEffect, useMemo, useRef, useCallback } from '../vendor/preact/hooks.mjs';
import htm from '../vendor/preact/htm.mjs';

/** @type {(strings: TemplateStringsArray, ...values: any[]) => any} */
export const html = htm.bind(h);

export { h, render, Fragment, useState, useEffect, useMemo, useRef, useCallback };
