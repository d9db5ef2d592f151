/**
 * Keeps a region of a page current without reloading it: the element with
 * `data-live-src` asks that URL (the page's own, with `format=fragment`)
 * every `data-live-ms` ms, sending the ETag of what it shows; the master
 * answers 304 while nothing changed (a job's change version: no database
 * read), or the region's new HTML, rendered and escaped by the same JSX as
 * the page. The new HTML replaces the region's; `<details>` the reader had
 * opened (by `data-key`) stay open, and the window's scroll stays where it
 * was. `X-Live-Done: true` (a finished job) ends the polls. Polls pause
 * while the tab is hidden. Without scripts the page is the same, only
 * still. A constant: every value it uses comes from data attributes the
 * JSX escapes; PAGE_SECURITY_POLICY allows it by its hash.
 */
export const LIVE_SCRIPT = `
(function () {
  var region = document.querySelector("[data-live-src]");
  if (!region) return;
  var src = region.getAttribute("data-live-src");
  var every = Number(region.getAttribute("data-live-ms")) || 2000;
  var etag = region.getAttribute("data-live-etag") || "";
  var status = document.getElementById("live-status");
  function say(text) { if (status) status.textContent = text; }
  function schedule(ms) { setTimeout(poll, ms); }
  function openKeys() {
    var keys = {};
    region.querySelectorAll("details[data-key]").forEach(function (d) { keys[d.getAttribute("data-key")] = d.open; });
    return keys;
  }
  function poll() {
    if (document.hidden) { schedule(every); return; }
    var headers = etag ? { "If-None-Match": etag } : {};
    fetch(src, { cache: "no-store", headers: headers }).then(function (res) {
      if (res.status === 304) { schedule(every); return; }
      if (!res.ok) throw new Error("HTTP " + res.status);
      var done = res.headers.get("X-Live-Done") === "true";
      etag = res.headers.get("ETag") || "";
      return res.text().then(function (html) {
        var keys = openKeys();
        var x = window.scrollX, y = window.scrollY;
        region.innerHTML = html;
        region.querySelectorAll("details[data-key]").forEach(function (d) {
          var k = d.getAttribute("data-key");
          if (Object.prototype.hasOwnProperty.call(keys, k)) d.open = keys[k];
        });
        window.scrollTo(x, y);
        region.setAttribute("data-live-etag", etag);
        region.dispatchEvent(new CustomEvent("dt:updated"));
        if (done) { say("Finished: this page will change no more."); return; }
        say("Live: updated " + new Date().toLocaleTimeString() + ".");
        schedule(every);
      });
    }).catch(function (err) {
      say("Cannot update (" + err.message + "); trying again in 10 s.");
      schedule(10000);
    });
  }
  say("Live: this page updates itself.");
  schedule(every);
})();
`;
