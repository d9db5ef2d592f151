/**
 * Follows a running log on its viewer page: asks `/log?…&format=lines`
 * for the lines after the last one shown (the master renders and escapes
 * them, colours and all, exactly as the page's own lines), appends them,
 * and keeps the end in view while the reader is at the end. A Pause button
 * stops the polls. A constant: every value it uses comes from the data
 * attributes of #log, which the JSX escapes, so nothing user-given is ever
 * spliced into the script. The only script dt's pages run:
 * PAGE_SECURITY_POLICY allows it by its hash.
 */
export const FOLLOW_SCRIPT = `
(function () {
  var pre = document.getElementById("log");
  var status = document.getElementById("log-status");
  var pause = document.getElementById("log-pause");
  var d = pre.dataset;
  var end = Number(d.end);
  var nextLine = Number(d.nextLine);
  var paused = false;
  var timer = null;
  var inFlight = false;
  function atBottom() {
    return window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
  }
  function schedule(ms) {
    if (!paused) timer = setTimeout(poll, ms);
  }
  function poll() {
    timer = null;
    inFlight = true;
    var url = d.src + "&after=" + end + "&first_line=" + nextLine;
    fetch(url, { cache: "no-store" }).then(function (res) {
      if (!res.ok) throw new Error("HTTP " + res.status);
      var newEnd = Number(res.headers.get("X-Log-End"));
      var size = Number(res.headers.get("X-Log-Size"));
      var complete = res.headers.get("X-Log-Complete") === "true";
      var lines = Number(res.headers.get("X-Log-Lines"));
      return res.text().then(function (html) {
        inFlight = false;
        var follow = atBottom();
        if (html) pre.insertAdjacentHTML("beforeend", html);
        end = newEnd;
        nextLine += lines;
        if (follow) window.scrollTo(0, document.body.scrollHeight);
        if (complete && end >= size) {
          status.textContent = "The attempt has ended; this is the whole log.";
          pause.hidden = true;
          return;
        }
        // A poll in flight when Pause was pressed still lands its lines, but must not say the log is followed.
        status.textContent = paused ? "Paused at line " + (nextLine - 1) + "." : "Following the log: " + (nextLine - 1) + " lines so far.";
        schedule(end < size ? 0 : 1000);
      });
    }).catch(function (err) {
      inFlight = false;
      status.textContent = "Cannot read the log (" + err.message + "); trying again in 5 s.";
      schedule(5000);
    });
  }
  pause.hidden = false;
  pause.addEventListener("click", function () {
    paused = !paused;
    pause.textContent = paused ? "Resume" : "Pause";
    pause.setAttribute("aria-pressed", String(paused));
    if (paused) {
      if (timer !== null) clearTimeout(timer);
      timer = null;
      status.textContent = "Paused at line " + (nextLine - 1) + ".";
    } else if (!inFlight) {
      poll();
    }
  });
  if (!location.hash) window.scrollTo(0, document.body.scrollHeight);
  poll();
})();
`;
