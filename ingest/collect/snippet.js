/* webfunnel tracking snippet: served by the collector as /wf.js.
 *
 * On a page:
 *   <script>window.webfunnel=window.webfunnel||function(){(webfunnel.q=webfunnel.q||[]).push(arguments)};</script>
 *   <script async src="https://collect.example.com/wf.js"></script>
 * and on the signup form's submit:
 *   webfunnel('signup', {email: form.email.value, referring_channel: form.channel.value});
 *
 * Sends a pageview on load (add data-auto="false" to the script tag to send it yourself with
 * webfunnel('pageview')). Each event carries an id made here, so a retried request is counted
 * once. The collector sets the visitor cookie; the browser sends it back (credentials).
 */
(function (w, d) {
  "use strict";
  var script = d.currentScript;
  var base = script && script.src ? script.src : w.location.href;
  var endpoint = new URL("/collect", base).href;
  var auto = !(script && script.getAttribute("data-auto") === "false");

  function eventId() {
    if (w.crypto && w.crypto.randomUUID) return w.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    (w.crypto || w.msCrypto).getRandomValues(bytes);
    var hex = "";
    for (var i = 0; i < bytes.length; i++) hex += (bytes[i] + 256).toString(16).slice(1);
    return hex;
  }

  function send(events, attempt) {
    var body = JSON.stringify(events.length === 1 ? events[0] : events);
    attempt = attempt || 0;
    function retry() {
      if (attempt < 3) setTimeout(function () { send(events, attempt + 1); }, 500 * Math.pow(2, attempt));
    }
    if (w.fetch) {
      // text/plain keeps it a "simple" CORS request: no preflight, and fine for keepalive.
      w.fetch(endpoint, {
        method: "POST",
        body: body,
        keepalive: true,
        credentials: "include",
        mode: "cors",
        headers: { "Content-Type": "text/plain;charset=UTF-8" }
      }).then(function (r) { if (r.status >= 500 || r.status === 429) retry(); }, retry);
    } else if (w.navigator.sendBeacon) {
      w.navigator.sendBeacon(endpoint, body);
    }
  }

  function pageview() {
    send([{ type: "pageview", event_id: eventId(), url: w.location.href, referrer: d.referrer }]);
  }

  function signup(props) {
    props = props || {};
    var channel = props.referring_channel;
    send([{
      type: "signup",
      event_id: eventId(),
      email: String(props.email == null ? "" : props.email),
      referring_channel: channel == null || channel === "" ? null : String(channel)
    }]);
  }

  function webfunnel(command, props) {
    if (command === "pageview") pageview();
    else if (command === "signup") signup(props);
  }

  var queued = (w.webfunnel && w.webfunnel.q) || [];
  w.webfunnel = webfunnel;
  if (auto) pageview();
  for (var i = 0; i < queued.length; i++) webfunnel.apply(null, queued[i]);
})(window, document);
