/**
 * Polls the native log API from where the server-rendered text ends and
 * appends what comes, as text (textContent), never as markup. A constant:
 * every value it uses comes from the data attributes of #log, which the JSX
 * escapes, so nothing user-given is ever spliced into the script. The
 * only script dt's pages run: PAGE_SECURITY_POLICY allows it by its hash.
 */
export const FOLLOW_SCRIPT = `
(function () {
  var pre = document.getElementById("log");
  var status = document.getElementById("log-status");
  var d = pre.dataset;
  var offset = Number(d.offset);
  var decoder = new TextDecoder();
  function append(text) {
    if (!text) return;
    var atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 20;
    var chunk = document.createElement("span");
    chunk.textContent = text;
    pre.appendChild(chunk);
    if (atBottom) window.scrollTo(0, document.body.scrollHeight);
  }
  function poll() {
    var query = new URLSearchParams({ task: d.task, attempt: d.attempt, stream: d.stream, offset: String(offset) });
    fetch(d.api + "?" + query, { cache: "no-store" }).then(function (res) {
      if (!res.ok) throw new Error("HTTP " + res.status);
      var size = Number(res.headers.get("X-Log-Size"));
      var complete = res.headers.get("X-Log-Complete") === "true";
      return res.arrayBuffer().then(function (buffer) {
        var bytes = new Uint8Array(buffer);
        offset += bytes.length;
        var done = complete && offset >= size;
        append(decoder.decode(bytes, { stream: !done }));
        if (done) {
          status.textContent = "The attempt has ended; this is the whole log.";
          return;
        }
        status.textContent = "Following the log: " + offset + " bytes so far.";
        setTimeout(poll, offset < size ? 0 : 1000);
      });
    }).catch(function (err) {
      status.textContent = "Cannot read the log (" + err.message + "); trying again in 5 s.";
      setTimeout(poll, 5000);
    });
  }
  if (d.complete !== "true") poll();
})();
`;
