// Preact + htm: tagged templates instead of JSX, so the console runs as written (no build
// step) under the page's CSP (no eval, no inline script). Text in `${…}` is set as text,
// never parsed as HTML; nothing in the console uses innerHTML.

import { h, render, Fragment } from './vendor/preact.mjs';
import { useState, useEffect, useMemo, useRef, useCallback } from './vendor/hooks.mjs';
import htm from './vendor/htm.mjs';

/** @type {(strings: TemplateStringsArray, ...values: any[]) => any} */
export const html = htm.bind(h);

export { h, render, Fragment, useState, useEffect, useMemo, useRef, useCallback };
