// The dashboard is now a screen of the console: web/console/screens/dashboard.js, loaded
// by web/index.html through /console/main.js (docs/console.md). This file stays only
// because the binary still serves /assets/dashboard.js (src/http/dashboard.rs); the page
// no longer loads it, and the route and this file can go together.
