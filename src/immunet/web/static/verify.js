// The offline verifier. Online, the form posts to the server's /verify as without script.
// Offline (navigator.onLine false, or the post fails), SMART Health Cards are checked here with
// WebCrypto against the trust list and revocations the service worker saved, following the
// server's rules step by step (immunet/certificates/verify.py) so that both give one answer.
// Formats not checked here yet are refused with a plain "connect and try again".
"use strict";
(function () {
  var MAX_QR_TEXT = 16 * 1024, MAX_SINGLE_JWS = 1195, MAX_CHUNK_JWS = 1191;
  var MAX_INFLATED = 256 * 1024;
  var texts = JSON.parse(document.getElementById("verify-texts").textContent);

  function Fail(reason) { this.reason = reason; }
  function fail(reason) { throw new Fail(reason); }

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/verify/sw.js", { scope: "/verify" }).catch(function () {});
  }

  function trustList() {
    return fetch("/verify/offline.json").then(function (r) {
      if (!r.ok) { throw new Error("no trust list"); }
      return r.json();
    });
  }

  function showAge(bundle) {
    var status = document.getElementById("offline-status");
    var made = new Date(bundle.generatedAt);
    var minutes = Math.max(0, Math.round((Date.now() - made.getTime()) / 60000));
    status.textContent = texts.saved.replace("{date}", made.toLocaleString(document.documentElement.lang))
      .replace("{minutes}", String(minutes));
    status.hidden = false;
  }

  trustList().then(showAge).catch(function () {});

  // -- decoding (the server's shc.py and _safe.py) ------------------------------------------
  function b64url(text) {
    if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) { fail("bad_encoding"); }
    var bin = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4));
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out;
  }

  function fromNumeric(digits) {
    if (digits.length % 2 || !/^[0-9]*$/.test(digits)) { fail("bad_encoding"); }
    var out = "";
    for (var i = 0; i < digits.length; i += 2) {
      var n = parseInt(digits.slice(i, i + 2), 10);
      if (n > 77) { fail("bad_encoding"); }
      out += String.fromCharCode(n + 45);
    }
    return out;
  }

  function chunk(text) {
    if (text.slice(0, 5) !== "shc:/") { fail("bad_encoding"); }
    var parts = text.slice(5).split("/");
    if (parts.length === 1 && /^[0-9]*$/.test(parts[0])) { return [null, null, parts[0]]; }
    if (parts.length === 3 && parts[0] && parts[1] && parts.every(function (p) { return /^[0-9]*$/.test(p); })) {
      return parts;
    }
    fail("bad_encoding");
  }

  function jwsFromQr(lines) {
    if (!lines.length || lines.length > 20) { fail("bad_encoding"); }
    var parsed = lines.map(chunk);
    if (parsed.length === 1 && parsed[0][0] === null) {
      if (parsed[0][2].length > 2 * MAX_SINGLE_JWS) { fail("bad_encoding"); }
      return fromNumeric(parsed[0][2]);
    }
    if (parsed.some(function (p) { return p[0] === null; })) { fail("bad_encoding"); }
    if (parsed.some(function (p) { return p[0].length > 2 || p[1].length > 2; })) { fail("bad_encoding"); }
    var total = parseInt(parsed[0][1], 10), byIndex = {};
    if (total !== parsed.length || parsed.some(function (p) { return parseInt(p[1], 10) !== total; })) { fail("bad_encoding"); }
    parsed.forEach(function (p) {
      if (p[2].length > 2 * MAX_CHUNK_JWS) { fail("bad_encoding"); }
      byIndex[parseInt(p[0], 10)] = p[2];
    });
    var out = "";
    for (var i = 1; i <= total; i++) {
      if (!(i in byIndex)) { fail("bad_encoding"); }
      out += fromNumeric(byIndex[i]);
    }
    if (Object.keys(byIndex).length !== total) { fail("bad_encoding"); }
    return out;
  }

  function inflateRaw(bytes) {
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
    var reader = stream.getReader(), chunks = [], size = 0;
    function pump() {
      return reader.read().then(function (step) {
        if (step.done) {
          var out = new Uint8Array(size), at = 0;
          chunks.forEach(function (c) { out.set(c, at); at += c.length; });
          return out;
        }
        size += step.value.length;
        if (size > MAX_INFLATED) { reader.cancel(); fail("bad_encoding"); }
        chunks.push(step.value);
        return pump();
      });
    }
    return pump().catch(function (e) { if (e instanceof Fail) { throw e; } fail("bad_encoding"); });
  }

  function jsonObject(bytes) {
    var value;
    try { value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)); } catch (e) { fail("bad_encoding"); }
    if (!value || typeof value !== "object" || Array.isArray(value)) { fail("bad_encoding"); }
    return value;
  }

  function issuerUrlError(iss) {
    if (typeof iss !== "string" || !iss || iss.length > 2048 || iss.slice(-1) === "/") { return true; }
    var url;
    try { url = new URL(iss); } catch (e) { return true; }
    if (!url.hostname || url.search || url.hash || url.username || iss.indexOf("@") >= 0) { return true; }
    if (url.protocol === "https:") { return false; }
    var host = url.hostname.replace(/^\[|\]$/g, "");
    return !(url.protocol === "http:" && (host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host)));
  }

  function summarize(claims) {
    var rows = [["iss", String(claims.iss)], ["nbf", String(claims.nbf)]];
    var vc = claims.vc && typeof claims.vc === "object" ? claims.vc : {};
    var bundle = vc.credentialSubject && vc.credentialSubject.fhirBundle;
    var entries = bundle && Array.isArray(bundle.entry) ? bundle.entry.slice(0, 50) : [];
    var doses = 0;
    entries.forEach(function (entry) {
      var res = entry && entry.resource;
      if (!res || typeof res !== "object") { return; }
      if (res.resourceType === "Patient" && Array.isArray(res.name) && res.name[0]) {
        var given = Array.isArray(res.name[0].given) ? res.name[0].given : [];
        rows.push(["name", given.concat([res.name[0].family || ""]).join(" ").trim()]);
        rows.push(["birthDate", String(res.birthDate)]);
      } else if (res.resourceType === "Immunization") {
        doses += 1;
        rows.push(["immunizations[" + doses + "].date", String(res.occurrenceDateTime)]);
      }
    });
    return rows;
  }

  function isRevoked(revoked, kid, rid, nbf) {
    if (!rid) { return false; }
    return (revoked[kid] || []).some(function (entry) {
      var dot = entry.indexOf("."), base = dot < 0 ? entry : entry.slice(0, dot);
      if (base !== rid) { return false; }
      if (dot < 0) { return true; }
      var ts = Number(entry.slice(dot + 1));
      return isNaN(ts) || nbf < ts;
    });
  }

  function verifyShc(jws, bundle) {
    if (jws.length > MAX_QR_TEXT) { fail("bad_encoding"); }
    var parts = jws.split(".");
    if (parts.length !== 3) { fail("bad_encoding"); }
    var header = jsonObject(b64url(parts[0]));
    if (header.zip !== "DEF") { fail("bad_encoding"); }
    var signature = b64url(parts[2]);
    return inflateRaw(b64url(parts[1])).then(function (raw) {
      var claims = jsonObject(raw), rows = summarize(claims);
      function no(reason) { var f = new Fail(reason); f.rows = rows; throw f; }
      if (issuerUrlError(claims.iss)) { no("schema_error"); }
      var entry = bundle.shc.filter(function (k) { return k.iss === claims.iss && k.kid === header.kid; })[0];
      if (!entry) { no("unknown_key"); }
      if (!entry.offline) { throw new Fail("online_only"); }
      if (header.alg !== "ES256" || signature.length !== 64) { no("bad_signature"); }
      return crypto.subtle.importKey("jwk", entry.jwk, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"])
        .then(function (key) {
          return crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, signature,
            new TextEncoder().encode(parts[0] + "." + parts[1]));
        })
        .then(function (ok) {
          if (!ok) { no("bad_signature"); }
          var vc = claims.vc, nbf = claims.nbf, exp = claims.exp, now = Date.now() / 1000;
          if (!vc || typeof vc !== "object" || Array.isArray(vc) || !vc.credentialSubject ||
              typeof vc.credentialSubject !== "object" || !vc.credentialSubject.fhirBundle ||
              typeof vc.credentialSubject.fhirBundle !== "object" || !Array.isArray(vc.type) ||
              vc.type.indexOf("https://smarthealth.cards#health-card") < 0 || typeof nbf !== "number") {
            no("schema_error");
          }
          if (nbf > now + 300) { no("expired"); }
          if (typeof exp === "number" && exp < now) { no("expired"); }
          if (isRevoked(bundle.revoked.shc || {}, header.kid || "", typeof vc.rid === "string" ? vc.rid : null, nbf)) {
            no("revoked");
          }
          return { valid: true, reason: "ok", format: "shc", rows: rows };
        });
    });
  }

  function verifyText(text, bundle) {
    if (text.length > MAX_QR_TEXT) { fail("bad_encoding"); }
    text = text.replace(/\r?\n$/, "");
    if (text.slice(0, 5) === "shc:/") { return verifyShc(jwsFromQr(text.replace(/\r\n/g, "\n").split("\n")), bundle); }
    if (text.slice(0, 3) === "eyJ" && text.split(".").length === 3) { return verifyShc(text, bundle); }
    // The server's dispatch for the rest: EU DCC, the W3C credential and documents are not
    // checked here yet; anything else is refused as the server refuses it.
    var one = text.trim();
    if (/^\s*[{]/.test(text) || text.slice(0, 4) === "PK\x03\x04" || one.slice(0, 4) === "HC1:" ||
        one.slice(0, 5) === "UEsDB") {
      throw new Fail("online_only");
    }
    var f = new Fail("bad_encoding");
    f.format = one.slice(0, 5) === "shc:/" ? "shc" : (one.length >= 4 && one[3] === ":" && /^[A-Za-z0-9]{3}$/.test(one.slice(0, 3)) ? "dcc" : null);
    throw f;
  }

  // -- the page -------------------------------------------------------------------------------
  function render(result) {
    var old = document.querySelector(".result");
    if (old) { old.remove(); }
    var section = document.createElement("section");
    section.className = "result " + (result.valid ? "valid" : "invalid");
    section.setAttribute("aria-labelledby", "result-heading");
    var h2 = document.createElement("h2");
    h2.id = "result-heading";
    section.appendChild(h2);
    function para(text) { var p = document.createElement("p"); p.textContent = text; section.appendChild(p); }
    if (result.reason === "online_only") {
      h2.textContent = texts.unchecked;
      para(texts.connect);
    } else {
      h2.textContent = result.valid ? texts.valid : texts.invalid;
      if (!result.valid) { para(texts.reasons[result.reason]); }
      if (result.format) { para(texts.format + ": " + texts.formats[result.format]); }
      if (!result.online) { para(texts.offline); }
      if (result.valid && result.rows) {
        var table = document.createElement("table"), caption = table.createCaption(), body = table.createTBody();
        caption.textContent = texts.carries;
        result.rows.forEach(function (row) {
          var tr = body.insertRow(), th = document.createElement("th"), td = tr.insertCell();
          th.scope = "row"; th.textContent = row[0]; td.textContent = row[1];
          tr.insertBefore(th, td);
        });
        var wrap = document.createElement("div"); wrap.className = "table-wrap"; wrap.appendChild(table);
        wrap.tabIndex = 0; wrap.setAttribute("role", "region"); wrap.setAttribute("aria-label", texts.carries);
        section.appendChild(wrap);
      }
    }
    var heading = document.querySelector("main h1") || document.querySelector("h1");
    heading.insertAdjacentElement("afterend", section);
    h2.tabIndex = -1;
    h2.focus();
  }

  function verifyOffline(text) {
    return trustList().then(function (bundle) {
      return Promise.resolve().then(function () { return verifyText(text, bundle); });
    }).catch(function (e) {
      if (e instanceof Fail) {
        var format = e.format !== undefined ? e.format : (e.reason === "online_only" ? null : "shc");
        return { valid: false, reason: e.reason, format: format, rows: e.rows };
      }
      return { valid: false, reason: "online_only", format: null };
    });
  }

  var form = document.getElementById("verify-form");
  form.addEventListener("submit", function (event) {
    if (navigator.onLine) { return; }
    event.preventDefault();
    verifyOffline(document.getElementById("qr").value.trim()).then(render);
  });
  window.immunetVerifyOffline = verifyOffline;

  // A photo of the QR code: the server's verifier decodes images (the same answer as a paste).
  function rowsOf(value, prefix, rows) {
    if (rows.length >= 60) { return rows; }
    if (value && typeof value === "object" && !Array.isArray(value)) {
      Object.keys(value).forEach(function (k) { rowsOf(value[k], prefix ? prefix + "." + k : k, rows); });
    } else if (Array.isArray(value)) {
      value.slice(0, 10).forEach(function (item, i) { rowsOf(item, prefix + "[" + (i + 1) + "]", rows); });
    } else {
      rows.push([prefix, String(value).slice(0, 200)]);
    }
    return rows;
  }

  var photo = document.getElementById("photo");
  document.getElementById("photo-upload").hidden = false;
  photo.addEventListener("change", function () {
    var file = photo.files && photo.files[0];
    if (!file) { return; }
    if (!navigator.onLine) { render({ valid: false, reason: "online_only", format: null }); return; }
    fetch("/api/v2/certificates/verify", { method: "POST", body: file, headers: { "Content-Type": file.type || "image/png" } })
      .then(function (r) { return r.json(); })
      .then(function (answer) {
        if (typeof answer.valid !== "boolean") { throw new Error("no answer"); }
        render({ valid: answer.valid, reason: answer.reason || "ok", format: answer.format,
          rows: answer.valid ? rowsOf(answer.fields || {}, "", []) : null, online: true });
      })
      .catch(function () { render({ valid: false, reason: "bad_encoding", format: null, online: true }); });
  });
})();
