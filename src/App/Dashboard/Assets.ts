/**
 * The dashboard's only script and stylesheet, served as files (`/dashboard.js`, `/dashboard.css`) so the
 * Content-Security-Policy can forbid inline script and style. Kept here as text so `npm run build`
 * ships them with no bundler and nothing is fetched at run time.
 */

/**
 * Live updates: the server streams the page's `#live` section, already rendered and escaped, as
 * Server-Sent Events (https://html.spec.whatwg.org/multipage/server-sent-events.html); EventSource
 * reconnects by itself when the stream drops.
 */
export const dashboardScript = `"use strict";
(function () {
  var view = document.body.dataset.view;
  var target = document.getElementById("live");
  if (!target || (view !== "overview" && view !== "alerts") || !window.EventSource) return;
  var events = new EventSource("/events?view=" + view);
  events.onmessage = function (event) {
    target.innerHTML = JSON.parse(event.data);
    document.body.dataset.updatedAt = String(Date.now());
  };
})();
`

export const dashboardStyle = `:root { font: 14px/1.4 system-ui, sans-serif; color: #222; background: #fafafa; }
body { margin: 0; }
nav { background: #223; padding: 0.5em 1em; }
nav a { color: #ccd; margin-right: 1.2em; text-decoration: none; }
nav a[aria-current] { color: #fff; font-weight: bold; }
main { padding: 0.5em 1em 2em; max-width: 1400px; }
h1 { margin: 0.3em 0; font-size: 1.6em; }
h2 { font-size: 1.1em; margin: 1.2em 0 0.4em; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: 0.25em 0.6em; border-bottom: 1px solid #e4e4e4; vertical-align: top; }
th { background: #f0f0f3; font-weight: 600; }
.status { padding: 0.4em 1em; border-left: 6px solid #999; background: #fff; }
.status.ok { border-color: #2a6; }
.status.degraded { border-color: #d90; }
.status.unhealthy { border-color: #c33; }
tr.bad td, p.bad { color: #b11; }
tr.bad td:first-child, tr.warn td:first-child { font-weight: bold; }
tr.warn td { color: #a60; }
.muted { color: #777; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 0 1.5em; }
.chart { width: 100%; max-width: 800px; height: auto; background: #fff; }
.legend .key::before { content: ""; display: inline-block; width: 1em; height: 3px; margin-right: 0.3em; vertical-align: middle; }
.legend .p50::before { background: #2a6; }
.legend .p95::before { background: #c52; }
form.search { display: flex; flex-wrap: wrap; gap: 0.8em; align-items: end; margin: 0.8em 0; }
form.search label { display: flex; flex-direction: column; font-size: 0.9em; }
td.headline { max-width: 40em; }
pre { background: #fff; padding: 0.8em; overflow-x: auto; }
`
