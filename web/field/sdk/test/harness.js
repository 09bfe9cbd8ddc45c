// The page tests/field/sdk.test.mjs drives: it loads the SDK as an app would (an ES
// module from this server, under the field app's CSP) and exposes it to the test runner.

import * as sdk from '../jiayi-sync.js';

/** The SDK's exports, for the test runner's page.evaluate calls. */
window.jiayi = sdk;

const status = document.getElementById('status');
if (status) status.textContent = `ready (SDK ${sdk.SDK_VERSION})`;
document.body.dataset.ready = '1';
