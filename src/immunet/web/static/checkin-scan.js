// Check-in from the appointment slip's QR with the phone camera, on the roster page. Where the
// browser reads QR codes itself (BarcodeDetector with qr_code), the slip's payload
// (booking/slip.py: qr_payload, {"appointment_id": ..., "code": ...}) fills the check-in form's
// two fields; the staff member then submits the same form as when typing. Elsewhere the
// control stays hidden and the typed path is the only one.
"use strict";
(function () {
  // The slip's payload as {appointment, code}, or null when the text is not a slip.
  function parseSlip(text) {
    var value;
    if (typeof text !== "string" || text.length > 256) { return null; }
    try { value = JSON.parse(text); } catch (e) { return null; }
    if (!value || typeof value !== "object" || Array.isArray(value)) { return null; }
    var id = value.appointment_id, code = value.code;
    if (typeof id !== "string" || !/^[0-9A-Za-z-]{1,36}$/.test(id)) { return null; }
    if (typeof code !== "string" || !/^[0-9]{4}$/.test(code)) { return null; }
    return { appointment: id, code: code };
  }

  function scanner() {
    var box = document.getElementById("checkin-camera");
    var form = document.getElementById("slip-check-in");
    if (!box || !form || !("BarcodeDetector" in window) || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { return; }
    window.BarcodeDetector.getSupportedFormats().then(function (formats) {
      if (formats.indexOf("qr_code") < 0) { return; }
      var texts = box.dataset;
      var button = document.getElementById("checkin-camera-start");
      var video = document.getElementById("checkin-camera-video");
      var status = document.getElementById("checkin-camera-status");
      var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      var stream = null, timer = null;
      box.hidden = false;
      function stop() {
        if (timer) { clearTimeout(timer); timer = null; }
        if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
        video.hidden = true;
        button.textContent = texts.scan;
      }
      function read(raw) {
        var slip = parseSlip(raw);
        if (!slip) { status.textContent = texts.unknown; return false; }
        stop();
        document.getElementById("slip-appointment").value = slip.appointment;
        document.getElementById("slip-code").value = slip.code;
        status.textContent = texts.read;
        form.querySelector("button[type=submit]").focus();
        return true;
      }
      function look() {
        detector.detect(video).then(function (codes) {
          if (!stream) { return; }
          if (codes.length && read(codes[0].rawValue)) { return; }
          timer = setTimeout(look, 250);
        }).catch(function () { if (stream) { timer = setTimeout(look, 500); } });
      }
      button.addEventListener("click", function () {
        if (stream) { stop(); status.textContent = ""; return; }
        navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false }).then(function (s) {
          stream = s;
          video.srcObject = s;
          video.hidden = false;
          button.textContent = texts.stop;
          status.textContent = texts.aim;
          return video.play().then(look);
        }).catch(function () { stop(); status.textContent = texts.nocamera; });
      });
    }).catch(function () {});
  }
  scanner();
})();
