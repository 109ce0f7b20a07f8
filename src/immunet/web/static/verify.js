// The offline verifier. Online, the form posts to the server's /verify as without script.
// Offline (navigator.onLine false), SMART Health Cards, EU DCCs (HC1:) and our W3C credential
// (eddsa-jcs-2022) are checked here with WebCrypto and DecompressionStream against the trust
// list and revocations the service worker saved (/verify/offline.json), following the server's
// rules step by step (immunet/certificates/verify.py) so that both give one answer: the same
// reason code and the same fields. What only the server checks (X.509 paths of SHC keys, DIVOC
// and Ed25519Signature2020 proofs, JSON files, rare encodings) is answered "connect and try
// again", never with an answer that could differ.
"use strict";
(function () {
  var MAX_QR_TEXT = 16 * 1024, MAX_SINGLE_JWS = 1195, MAX_CHUNK_JWS = 1191;
  var MAX_INFLATED = 256 * 1024;
  var texts = JSON.parse(document.getElementById("verify-texts").textContent);

  // A refusal: its reason code, and the format and fields when they are known (as the server's).
  function Fail(reason, format, fields) { this.reason = reason; this.format = format; this.fields = fields; }
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

  function verifyShc(jws, bundle, now) {
    if (jws.length > MAX_QR_TEXT) { fail("bad_encoding"); }
    var parts = jws.split(".");
    if (parts.length !== 3) { fail("bad_encoding"); }
    var header = jsonObject(b64url(parts[0]));
    if (header.zip !== "DEF") { fail("bad_encoding"); }
    var signature = b64url(parts[2]);
    return inflateRaw(b64url(parts[1])).then(function (raw) {
      var claims = jsonObject(raw), rows = summarize(claims);
      function no(reason) { var f = new Fail(reason, "shc"); f.rows = rows; throw f; }
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
          var vc = claims.vc, nbf = claims.nbf, exp = claims.exp;
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

  // -- shared helpers -------------------------------------------------------------------------
  var hasOwn = Object.prototype.hasOwnProperty;
  function isObj(v) { return v !== null && typeof v === "object" && !Array.isArray(v); }
  function get(o, k) { return isObj(o) && hasOwn.call(o, k) && o[k] !== undefined ? o[k] : null; }
  function put(o, k, v) { Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true }); }
  function toB64(bytes) { var s = ""; for (var i = 0; i < bytes.length; i++) { s += String.fromCharCode(bytes[i]); } return btoa(s); }
  function fromB64(text) {
    var bin = atob(text), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out;
  }
  function concat(list) {
    var size = 0, at = 0;
    list.forEach(function (b) { size += b.length; });
    var out = new Uint8Array(size);
    list.forEach(function (b) { out.set(b, at); at += b.length; });
    return out;
  }
  function sameBytes(a, b) {
    if (a.length !== b.length) { return false; }
    for (var i = 0; i < a.length; i++) { if (a[i] !== b[i]) { return false; } }
    return true;
  }
  function sha256(bytes) { return crypto.subtle.digest("SHA-256", bytes).then(function (d) { return new Uint8Array(d); }); }
  function hex(bytes) { return Array.prototype.map.call(bytes, function (b) { return (b < 16 ? "0" : "") + b.toString(16); }).join(""); }
  // Python's str() of a JSON value, where the server builds text from one (revocation keys).
  function pyStr(v) {
    if (v === null || v === undefined) { return "None"; }
    if (v === true) { return "True"; }
    if (v === false) { return "False"; }
    if (typeof v === "number" && !Number.isInteger(v)) { throw new Fail("online_only", null); }
    if (typeof v === "object") { throw new Fail("online_only", null); }
    return String(v);
  }
  // A Python regular expression (re.search/re.match semantics) as a JavaScript one: \d is any
  // Unicode digit, "." is anything but a newline, and "$" also matches before a final newline.
  function pyRegExp(pattern) {
    var out = "", inClass = false;
    for (var i = 0; i < pattern.length; i++) {
      var c = pattern[i];
      if (c === "\\") {
        var next = pattern[i + 1];
        out += next === "d" ? "\\p{Nd}" : c + next;
        i += 1;
      } else if (inClass) {
        if (c === "]") { inClass = false; }
        out += c;
      } else if (c === "[") { inClass = true; out += c; }
      else if (c === ".") { out += "[^\\n]"; }
      else if (c === "$") { out += "(?=\\n?$)"; }
      else { out += c; }
    }
    return new RegExp(out, "u");
  }
  // Python's datetime.fromtimestamp(t, UTC).isoformat() with "+00:00" written "Z"; null where
  // Python has no datetime for the number.
  function pyIso(t) {
    if (typeof t !== "number" || !isFinite(t) || t < -62135596800 || t >= 253402300800) { return null; }
    var whole = Math.floor(t), micro = Math.round((t - whole) * 1e6);
    if (micro === 1e6) { whole += 1; micro = 0; }
    var text = new Date(whole * 1000).toISOString().slice(0, 19);
    return text + (micro ? "." + String(micro).padStart(6, "0") : "") + "Z";
  }

  function inflate(bytes, format, limit) {
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream(format));
    var reader = stream.getReader(), chunks = [], size = 0;
    function pump() {
      return reader.read().then(function (step) {
        if (step.done) { return concat(chunks); }
        size += step.value.length;
        if (size > limit) { reader.cancel(); fail("bad_encoding"); }
        chunks.push(step.value);
        return pump();
      });
    }
    return pump().catch(function (e) { if (e instanceof Fail) { throw e; } fail("bad_encoding"); });
  }

  // -- EU DCC (the server's dcc.py and base45.py) ------------------------------------------------
  var B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:", MAX_CBOR_DEPTH = 16;
  function b45decode(text) {
    if (text.length % 3 === 1) { fail("bad_encoding"); }
    var out = new Uint8Array(Math.floor(text.length / 3) * 2 + (text.length % 3 ? 1 : 0)), at = 0;
    for (var i = 0; i < text.length; i += 3) {
      var v = [];
      for (var j = i; j < Math.min(i + 3, text.length); j++) {
        var k = B45.indexOf(text[j]);
        if (k < 0) { fail("bad_encoding"); }
        v.push(k);
      }
      if (v.length === 3) {
        var n = v[0] + 45 * v[1] + 2025 * v[2];
        if (n > 0xffff) { fail("bad_encoding"); }
        out[at++] = n >> 8; out[at++] = n & 255;
      } else {
        var m = v[0] + 45 * v[1];
        if (m > 0xff) { fail("bad_encoding"); }
        out[at++] = m;
      }
    }
    return out;
  }

  function Tag(tag, value) { this.tag = tag; this.value = value; }
  function PyTime(iso) { this.iso = iso; }
  var UNDEFINED = { cbor: "undefined" };
  // CBOR (RFC 8949) as cbor2 decodes it for the verifier: maps as Map (integer keys stay
  // numbers), byte strings as Uint8Array, tags 18 and 61 kept, epoch dates (tag 1) as times.
  // What cbor2 turns into Python types the page does not model is left to the server.
  var SEMANTIC_TAGS = [2, 3, 4, 5, 25, 28, 29, 30, 35, 36, 37, 100, 256, 258, 260, 261, 1004];
  // A date-time string (tag 0) as cbor2 reads it and Python's isoformat() writes it again;
  // the usual RFC 3339 forms only (others are left to the server).
  function isoText(text) {
    if (typeof text !== "string") { fail("bad_encoding"); }
    var m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/.exec(text);
    if (!m || Number(m[1]) < 100) { throw new Fail("online_only", null); }
    var p = m.slice(1, 7).map(Number), t = new Date(Date.UTC(p[0], p[1] - 1, p[2]));
    if (t.getUTCMonth() !== p[1] - 1 || t.getUTCDate() !== p[2] || p[3] > 23 || p[4] > 59 || p[5] > 59) { fail("bad_encoding"); }
    if (m[8] !== "Z" && (Number(m[8].slice(1, 3)) > 23 || Number(m[8].slice(4)) > 59)) { throw new Fail("online_only", null); }
    var micro = m[7] ? (m[7] + "00000").slice(0, 6) : "000000";
    var zone = m[8] === "Z" || m[8].slice(1) === "00:00" ? "Z" : m[8];
    return text.slice(0, 19) + (micro !== "000000" ? "." + micro : "") + zone;
  }

  function cborDecode(bytes) {
    if (bytes.length > MAX_INFLATED) { fail("bad_encoding"); }
    var view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), at = 0;
    function need(n) { if (at + n > bytes.length) { fail("bad_encoding"); } }
    function arg(info) {
      var v;
      if (info < 24) { return info; }
      if (info === 24) { need(1); return bytes[at++]; }
      if (info === 25) { need(2); v = view.getUint16(at); at += 2; return v; }
      if (info === 26) { need(4); v = view.getUint32(at); at += 4; return v; }
      if (info === 27) {
        need(8); v = view.getUint32(at) * 4294967296 + view.getUint32(at + 4); at += 8;
        return v;  // beyond 2^53 only as a length (then longer than the input) or a tag
      }
      fail("bad_encoding");
    }
    function half(h) {
      var e = (h >> 10) & 31, f = h & 1023, s = h & 0x8000 ? -1 : 1;
      if (e === 0) { return s * f * Math.pow(2, -24); }
      if (e === 31) { return f ? NaN : s * Infinity; }
      return s * (1 + f / 1024) * Math.pow(2, e - 15);
    }
    function item(depth) {
      if (depth > MAX_CBOR_DEPTH) { fail("bad_encoding"); }
      need(1);
      var first = bytes[at++], major = first >> 5, info = first & 31, n, out, i;
      if (major === 7) {
        if (info === 20) { return false; }
        if (info === 21) { return true; }
        if (info === 22) { return null; }
        if (info === 23) { return UNDEFINED; }
        if (info === 25) { need(2); n = half(view.getUint16(at)); at += 2; return n; }
        if (info === 26) { need(4); n = view.getFloat32(at); at += 4; return n; }
        if (info === 27) { need(8); n = view.getFloat64(at); at += 8; return n; }
        if (info < 20 || info === 24) { throw new Fail("online_only", null); }  // simple values
        fail("bad_encoding");
      }
      if (info === 31) {  // indefinite length
        if (major === 2 || major === 3) {
          var parts = [];
          for (;;) {
            need(1);
            if (bytes[at] === 0xff) { at++; break; }
            var part = item(depth + 1);
            if (major === 2 ? !(part instanceof Uint8Array) : typeof part !== "string") { fail("bad_encoding"); }
            parts.push(part);
          }
          return major === 2 ? concat(parts) : parts.join("");
        }
        if (major === 4 || major === 5) {
          out = major === 4 ? [] : new Map();
          for (;;) {
            need(1);
            if (bytes[at] === 0xff) { at++; return out; }
            if (major === 4) { out.push(item(depth + 1)); } else { var key = item(depth + 1); out.set(key, item(depth + 1)); }
          }
        }
        fail("bad_encoding");
      }
      n = arg(info);
      if (major < 2 && n > Number.MAX_SAFE_INTEGER) { throw new Fail("online_only", null); }  // not exact here
      if (major === 0) { return n; }
      if (major === 1) { return -1 - n; }
      if (major === 2) { need(n); out = bytes.slice(at, at + n); at += n; return out; }
      if (major === 3) {
        need(n);
        try { out = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes.subarray(at, at + n)); } catch (e) { fail("bad_encoding"); }
        at += n;
        return out;
      }
      if (major === 4) {
        need(n);  // every item takes at least one byte
        out = [];
        for (i = 0; i < n; i++) { out.push(item(depth + 1)); }
        return out;
      }
      if (major === 5) {
        need(2 * n);
        out = new Map();
        for (i = 0; i < n; i++) { var k = item(depth + 1); out.set(k, item(depth + 1)); }
        return out;
      }
      // major 6: a tag
      var inner = item(depth + 1);
      if (n === 55799) { return inner; }
      if (n === 1) {
        if (typeof inner !== "number") { fail("bad_encoding"); }
        var iso = pyIso(inner);
        if (iso === null) { fail("bad_encoding"); }
        return new PyTime(iso);
      }
      if (n === 0) { return new PyTime(isoText(inner)); }
      if (SEMANTIC_TAGS.indexOf(n) >= 0) { throw new Fail("online_only", null); }
      return new Tag(n, inner);
    }
    return item(0);  // as cbor2.loads, bytes after the first item are not read
  }

  function cborHead(major, n) {
    if (n < 24) { return [(major << 5) | n]; }
    if (n < 256) { return [(major << 5) | 24, n]; }
    if (n < 65536) { return [(major << 5) | 25, n >> 8, n & 255]; }
    return [(major << 5) | 26, (n >>> 24) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255];
  }

  function sigStructure(protectedRaw, payload) {
    var label = new TextEncoder().encode("Signature1");
    return concat([new Uint8Array([0x84].concat(cborHead(3, label.length))), label,
      new Uint8Array(cborHead(2, protectedRaw.length)), protectedRaw, new Uint8Array([0x40]),
      new Uint8Array(cborHead(2, payload.length)), payload]);
  }

  function parseCose(bytes) {
    var obj = cborDecode(bytes);
    if (obj instanceof Tag && obj.tag === 61) { obj = obj.value; }
    if (obj instanceof Tag) {
      if (obj.tag !== 18) { fail("bad_encoding"); }
      obj = obj.value;
    }
    if (!Array.isArray(obj) || obj.length !== 4) { fail("bad_encoding"); }
    if (!(obj[0] instanceof Uint8Array) || !(obj[1] instanceof Map)) { fail("bad_encoding"); }
    if (!(obj[2] instanceof Uint8Array) || !(obj[3] instanceof Uint8Array)) { fail("bad_encoding"); }
    var prot = obj[0].length ? cborDecode(obj[0]) : new Map();
    if (!(prot instanceof Map)) { fail("bad_encoding"); }
    return { protectedRaw: obj[0], headers: [prot, obj[1]], payload: obj[2], signature: obj[3] };
  }

  // The protected header wins over the unprotected one; a value of the wrong type is none.
  function coseHeader(cose, label, ok) {
    for (var i = 0; i < 2; i++) {
      var v = cose.headers[i].get(label);
      if (v !== undefined && v !== null) { return ok(v) ? v : null; }
    }
    return null;
  }

  // dcc.to_jsonable: maps as objects (keys as Python's str()), bytes as base64, tags unwrapped.
  function jsonable(v) {
    if (v instanceof Map) {
      var o = {};
      v.forEach(function (x, k) {
        var key = typeof k === "string" ? k : k === true ? "True" : k === false ? "False" : k === null ? "None" :
          typeof k === "number" && Number.isInteger(k) ? String(k) : null;
        if (key === null) { throw new Fail("online_only", null); }
        put(o, key, jsonable(x));
      });
      return o;
    }
    if (Array.isArray(v)) { return v.map(jsonable); }
    if (v instanceof Uint8Array) { return toB64(v); }
    if (v instanceof Tag) { return jsonable(v.value); }
    if (v instanceof PyTime) { return v.iso; }
    if (v === UNDEFINED) { return null; }
    if (typeof v === "number" && !isFinite(v)) { throw new Fail("online_only", null); }
    return v;
  }

  function claimTime(claims, key) {
    var v = claims.get(key);
    return typeof v === "number" && pyIso(v) !== null ? v : null;
  }

  function claimsSummary(claims) {
    var out = {};
    if (typeof claims.get(1) === "string") { out.iss = claims.get(1); }
    [["iat", 6], ["exp", 4]].forEach(function (p) {
      var t = claimTime(claims, p[1]);
      if (t !== null) { out[p[0]] = pyIso(t); }
    });
    return out;
  }

  // JSON Schema (2020-12) for the keywords the bundled DCC schema uses, formats off, as the
  // server's jsonschema validates it.
  function schemaValid(value, schema, root, depth) {
    if (depth > 64 || !isObj(schema)) { return false; }
    if (typeof schema.$ref === "string") {
      var path = schema.$ref.replace(/^#\//, "").split("/"), target = root;
      path.forEach(function (p) { target = target ? target[p] : undefined; });
      if (!schemaValid(value, target, root, depth + 1)) { return false; }
    }
    if (schema.type !== undefined) {
      var types = Array.isArray(schema.type) ? schema.type : [schema.type];
      var ok = types.some(function (t) {
        if (t === "integer") { return typeof value === "number" && Number.isInteger(value); }
        if (t === "number") { return typeof value === "number"; }
        if (t === "string") { return typeof value === "string"; }
        if (t === "object") { return isObj(value); }
        if (t === "array") { return Array.isArray(value); }
        if (t === "boolean") { return typeof value === "boolean"; }
        if (t === "null") { return value === null; }
        return false;
      });
      if (!ok) { return false; }
    }
    if (isObj(value)) {
      if (Array.isArray(schema.required) && schema.required.some(function (k) { return !hasOwn.call(value, k); })) { return false; }
      if (isObj(schema.properties)) {
        for (var key in schema.properties) {
          if (hasOwn.call(schema.properties, key) && hasOwn.call(value, key) &&
              !schemaValid(value[key], schema.properties[key], root, depth + 1)) { return false; }
        }
      }
    }
    if (Array.isArray(value)) {
      if (typeof schema.minItems === "number" && value.length < schema.minItems) { return false; }
      if (typeof schema.maxItems === "number" && value.length > schema.maxItems) { return false; }
      if (isObj(schema.items) && !value.every(function (x) { return schemaValid(x, schema.items, root, depth + 1); })) { return false; }
    }
    if (typeof value === "string") {
      if (typeof schema.maxLength === "number" && Array.from(value).length > schema.maxLength) { return false; }
      if (typeof schema.pattern === "string" && !pyRegExp(schema.pattern).test(value)) { return false; }
    }
    if (typeof value === "number" && typeof schema.minimum === "number" && value < schema.minimum) { return false; }
    var matches = function (s) { return schemaValid(value, s, root, depth + 1); };
    if (Array.isArray(schema.oneOf) && schema.oneOf.filter(matches).length !== 1) { return false; }
    if (Array.isArray(schema.anyOf) && !schema.anyOf.some(matches)) { return false; }
    return true;
  }

  function dccKinds(payload) { return ["v", "t", "r"].filter(function (k) { return hasOwn.call(payload, k); }); }

  function verifyCoseSignature(cose, signer) {
    var alg = coseHeader(cose, 1, Number.isInteger), data = sigStructure(cose.protectedRaw, cose.payload);
    var spki = fromB64(signer.spki);
    if (signer.alg === "ES256") {
      if ((alg !== -7 && alg !== null) || cose.signature.length !== 64) { return Promise.resolve(false); }
      return crypto.subtle.importKey("spki", spki, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"])
        .then(function (key) { return crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, cose.signature, data); });
    }
    if (alg !== -37) { return Promise.resolve(false); }
    return crypto.subtle.importKey("spki", spki, { name: "RSA-PSS", hash: "SHA-256" }, false, ["verify"])
      .then(function (key) { return crypto.subtle.verify({ name: "RSA-PSS", saltLength: 32 }, key, cose.signature, data); })
      .catch(function () { return false; });
  }

  function verifyDcc(text, bundle, now) {
    return Promise.resolve().then(function () {
      return inflate(b45decode(text.slice(4)), "deflate", MAX_INFLATED);
    }).then(function (raw) {
      var cose = parseCose(raw), claims = cborDecode(cose.payload);
      if (!(claims instanceof Map)) { fail("bad_encoding"); }
      var hcert = claims.get(-260);
      if (!(hcert instanceof Map) || !(hcert.get(1) instanceof Map)) { fail("bad_encoding"); }
      var payload = jsonable(hcert.get(1)), fields = claimsSummary(claims);
      Object.keys(payload).forEach(function (k) { put(fields, k, payload[k]); });
      function no(reason) { throw new Fail(reason, "dcc", fields); }
      var kid = coseHeader(cose, 4, function (v) { return v instanceof Uint8Array; });
      var signer = kid && kid.length ? (bundle.dcc || []).filter(function (s) { return s.kid === toB64(kid); })[0] : null;
      if (!signer) { no("unknown_key"); }
      if (!signer.offline) { throw new Fail("online_only", null); }
      return verifyCoseSignature(cose, signer).then(function (ok) {
        if (!ok) { no("bad_signature"); }
        var kinds = dccKinds(payload);
        if (!schemaValid(payload, bundle.dccSchema, bundle.dccSchema, 0) || kinds.length !== 1) { no("schema_error"); }
        var kind = kinds[0];
        if (signer.types.indexOf(kind) < 0) { no("key_not_allowed"); }
        var iat = claimTime(claims, 6), exp = claimTime(claims, 4);
        if (iat === null || exp === null || !(signer.notBefore <= iat && iat <= now && now <= exp && exp <= signer.notAfter)) {
          no("expired");
        }
        var revoked = (bundle.revoked && bundle.revoked.dcc) || [];
        var ids = (Array.isArray(payload[kind]) ? payload[kind] : []).map(function (e) { return get(e, "ci"); })
          .filter(function (ci) { return typeof ci === "string"; });
        return Promise.all(ids.map(function (ci) { return sha256(new TextEncoder().encode(ci)); })).then(function (digests) {
          digests.forEach(function (d) {
            if (revoked.indexOf(toB64(d.slice(0, 16))) >= 0 || revoked.indexOf(hex(d)) >= 0) { no("revoked"); }
          });
          return { valid: true, reason: "ok", format: "dcc", fields: fields };
        });
      });
    }).catch(function (e) {
      if (e instanceof Fail && e.format === undefined) { e.format = "dcc"; }
      throw e;
    });
  }

  // -- our W3C credential (the server's vc.py: eddsa-jcs-2022 in a base64 ZIP) -----------------
  var MAX_VC_JSON = 64 * 1024, MAX_JSON_NODES = 400, MAX_JSON_DEPTH = 12;
  var B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  var XSD_DATETIME = "^-?\\d{4,}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})?$";
  var CRC_TABLE = (function () {
    var table = new Uint32Array(256);
    for (var n = 0; n < 256; n++) {
      var c = n;
      for (var k = 0; k < 8; k++) { c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; }
      table[n] = c >>> 0;
    }
    return table;
  })();
  function crc32(bytes) {
    var c = 0xffffffff;
    for (var i = 0; i < bytes.length; i++) { c = CRC_TABLE[(c ^ bytes[i]) & 255] ^ (c >>> 8); }
    return (c ^ 0xffffffff) >>> 0;
  }

  // The one ZIP layout immunet writes, every field checked as vc._read_simple_zip does; other
  // layouts (DIVOC's and other writers') are read by the server's zipfile, not here.
  function readSimpleZip(data) {
    var view = new DataView(data.buffer, data.byteOffset, data.byteLength), len = data.length;
    var name = new TextEncoder().encode("certificate.json");
    function u16(at) { return view.getUint16(at, true); }
    function u32(at) { return view.getUint32(at, true); }
    function online() { throw new Fail("online_only", null); }
    if (len < 30 + 46 + 22) { online(); }
    var e = len - 22;
    if (u32(e) !== 0x06054b50 || u16(e + 4) || u16(e + 6) || u16(e + 8) !== 1 || u16(e + 10) !== 1 || u16(e + 20)) { online(); }
    var cdSize = u32(e + 12), cdOffset = u32(e + 16);
    if (cdOffset + cdSize !== e || cdSize < 46) { online(); }
    var c = cdOffset, crc = u32(c + 16), csize = u32(c + 20), usize = u32(c + 24), nlen = u16(c + 28);
    if (u32(c) !== 0x02014b50 || u16(c + 6) !== 20 || u16(c + 8) || u16(c + 10) !== 8 || u16(c + 30) || u16(c + 32)) { online(); }
    if (u32(c + 42) !== 0) { online(); }
    if (cdSize !== 46 + nlen || !sameBytes(data.subarray(c + 46, c + cdSize), name)) { online(); }
    if (u32(0) !== 0x04034b50 || u16(4) !== 20 || u16(6) !== 0 || u16(8) !== 8 || u32(14) !== crc ||
        u32(18) !== csize || u32(22) !== usize || u16(26) !== nlen) { online(); }
    var start = 30 + nlen + u16(28);
    if (!sameBytes(data.subarray(30, 30 + nlen), name)) { online(); }
    if (start + csize !== cdOffset) { online(); }
    if (usize > MAX_VC_JSON) { fail("bad_encoding"); }
    return inflate(data.subarray(start, cdOffset), "deflate-raw", MAX_VC_JSON).then(function (raw) {
      if (raw.length !== usize || crc32(raw) !== crc) { fail("bad_encoding"); }
      return raw;
    });
  }

  function checkShape(doc, bundle) {
    var level = [doc], depth = 0, count = 0;
    while (level.length) {
      count += level.length;
      if (depth > MAX_JSON_DEPTH || count > MAX_JSON_NODES) { fail("bad_encoding"); }
      var below = [];
      level.forEach(function (node) {
        if (isObj(node)) {
          ["id", "@id"].forEach(function (k) {
            var v = get(node, k);
            if (typeof v === "string" && v.slice(0, 2) === "_:") { fail("bad_encoding"); }
          });
          Object.keys(node).forEach(function (k) { below.push(node[k]); });
        } else if (Array.isArray(node)) {
          below.push.apply(below, node);
        }
      });
      level = below;
      depth += 1;
    }
    var ctx = get(doc, "@context"), known = (bundle.vcContexts || []).concat(bundle.divocContexts || []);
    if (!Array.isArray(ctx) || !ctx.every(function (c) { return typeof c === "string" && known.indexOf(c) >= 0; })) {
      fail("bad_encoding");
    }
  }

  function vcFromQr(text, bundle) {
    var data;
    if (text.slice(0, 4) === "PK\x03\x04") {
      data = new Uint8Array(text.length);
      for (var i = 0; i < text.length; i++) {
        if (text.charCodeAt(i) > 255) { fail("bad_encoding"); }
        data[i] = text.charCodeAt(i);
      }
    } else {
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4) { fail("bad_encoding"); }
      data = fromB64(text);
    }
    return readSimpleZip(data).then(function (raw) {
      var doc;
      try { doc = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(raw)); } catch (e) { fail("bad_encoding"); }
      if (!isObj(doc)) { fail("bad_encoding"); }
      checkShape(doc, bundle);
      return doc;
    });
  }

  function vcSummary(doc) {
    var subject = isObj(get(doc, "credentialSubject")) ? doc.credentialSubject : {};
    var out = { issuer: get(doc, "issuer"), issuanceDate: get(doc, "issuanceDate"), type: get(doc, "type") };
    ["name", "gender", "age", "birthYear", "dob", "refId", "maskedId", "nationality"].forEach(function (k) {
      if (hasOwn.call(subject, k)) { out[k] = subject[k]; }
    });
    var evidence = Array.isArray(get(doc, "evidence")) ? doc.evidence : [];
    out.evidence = evidence.filter(isObj).map(function (e) {
      var row = {};
      ["certificateId", "certificateVersion", "vaccine", "manufacturer", "batch", "date", "dose", "totalDoses"]
        .forEach(function (k) { row[k] = get(e, k); });
      row.facility = isObj(get(e, "facility")) ? get(e.facility, "name") : null;
      return row;
    });
    return out;
  }

  // RFC 8785 (JCS). Numbers JSON.parse could not keep exact, and lone surrogates, are left to
  // the server, whose JSON keeps what the page's cannot.
  function jcs(v) {
    if (v === null || typeof v === "boolean") { return JSON.stringify(v); }
    if (typeof v === "number") {
      if (Number.isInteger(v) && Math.abs(v) >= 9007199254740992) { throw new Fail("online_only", null); }
      return JSON.stringify(v);
    }
    if (typeof v === "string") {
      if (/[\ud800-\udbff](?![\udc00-\udfff])|(^|[^\ud800-\udbff])[\udc00-\udfff]/.test(v)) { throw new Fail("online_only", null); }
      return JSON.stringify(v);
    }
    if (Array.isArray(v)) { return "[" + v.map(jcs).join(",") + "]"; }
    return "{" + Object.keys(v).sort().map(function (k) { return jcs(k) + ":" + jcs(v[k]); }).join(",") + "}";
  }

  function b58decode(text) {
    var n = BigInt(0), zeros = 0, big58 = BigInt(58);
    while (zeros < text.length && text[zeros] === "1") { zeros += 1; }
    for (var i = 0; i < text.length; i++) {
      var d = B58.indexOf(text[i]);
      if (d < 0) { return null; }
      n = n * big58 + BigInt(d);
    }
    var body = n ? n.toString(16) : "";
    if (body.length % 2) { body = "0" + body; }
    var out = new Uint8Array(zeros + body.length / 2);
    for (var j = 0; j < body.length / 2; j++) { out[zeros + j] = parseInt(body.slice(2 * j, 2 * j + 2), 16); }
    return out;
  }

  function verifyJcs(doc, proof, rawKey) {
    var options = {}, unsecured = {};
    Object.keys(proof).forEach(function (k) { if (k !== "proofValue") { put(options, k, proof[k]); } });
    Object.keys(doc).forEach(function (k) { if (k !== "proof") { put(unsecured, k, doc[k]); } });
    if (get(options, "type") !== "DataIntegrityProof" || get(options, "cryptosuite") !== "eddsa-jcs-2022") { return Promise.resolve(false); }
    var created = get(options, "created");
    if (created !== null && !(typeof created === "string" && pyRegExp(XSD_DATETIME).test(created))) { return Promise.resolve(false); }
    if (hasOwn.call(options, "@context")) {
      var ctx = options["@context"], docCtx = get(unsecured, "@context");
      var ctxList = Array.isArray(ctx) ? ctx : [ctx], docList = Array.isArray(docCtx) ? docCtx : [docCtx];
      if (jcs(docList.slice(0, ctxList.length)) !== jcs(ctxList)) { return Promise.resolve(false); }
      put(unsecured, "@context", ctx);
    }
    var value = get(proof, "proofValue");
    if (typeof value !== "string" || value[0] !== "z") { return Promise.resolve(false); }
    var signature = b58decode(value.slice(1));
    if (signature === null) { return Promise.resolve(false); }
    var enc = new TextEncoder(), a = enc.encode(jcs(options)), b = enc.encode(jcs(unsecured));
    if (signature.length !== 64) { return Promise.resolve(false); }
    return Promise.all([sha256(a), sha256(b), crypto.subtle.importKey("raw", fromB64(rawKey), { name: "Ed25519" }, false, ["verify"])])
      .then(function (r) { return crypto.subtle.verify({ name: "Ed25519" }, r[2], signature, concat([r[0], r[1]])); });
  }

  function undefinedTerms(doc, terms) {
    var found = [], stack = [doc];
    while (stack.length) {
      var node = stack.pop();
      if (isObj(node)) {
        Object.keys(node).forEach(function (k) {
          if (!terms.has(k) && k[0] !== "@") { found.push(k); }
          if (k !== "@context" && node[k] !== null && typeof node[k] === "object") { stack.push(node[k]); }
        });
      } else if (Array.isArray(node)) {
        stack.push.apply(stack, node);
      }
    }
    return found;
  }

  // datetime.fromisoformat for the forms a credential carries; other forms go to the server.
  function isoSeconds(text) {
    var m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{3}|\d{6}))?)?(Z|[+-]\d{2}:\d{2})?)?$/.exec(text);
    if (!m || Number(m[1]) < 100) { throw new Fail("online_only", null); }
    var parts = m.slice(1, 7).map(function (p) { return p === undefined ? 0 : Number(p); });
    var t = Date.UTC(parts[0], parts[1] - 1, parts[2], parts[3], parts[4], parts[5]);
    var back = new Date(t);
    if (back.getUTCFullYear() !== parts[0] || back.getUTCMonth() !== parts[1] - 1 || back.getUTCDate() !== parts[2] ||
        parts[3] > 23 || parts[4] > 59 || parts[5] > 59) { return null; }
    var seconds = t / 1000 + (m[7] ? Number("0." + m[7]) : 0);
    if (m[8] && m[8] !== "Z") {
      var sign = m[8][0] === "-" ? -1 : 1, hh = Number(m[8].slice(1, 3)), mm = Number(m[8].slice(4, 6));
      if (hh > 23 || mm > 59) { return null; }
      seconds -= sign * (hh * 3600 + mm * 60);
    }
    return seconds;
  }

  function verifyVc(text, bundle, now) {
    return Promise.resolve().then(function () { return vcFromQr(text, bundle); }).catch(function (e) {
      if (e instanceof Fail && e.format === undefined) { e.format = "vc"; }
      throw e;
    }).then(function (doc) {
      var fields = vcSummary(doc), proof = get(doc, "proof");
      function no(reason) { throw new Fail(reason, "vc", fields); }
      if (isObj(proof) && proof.type === "RsaSignature2018") { throw new Fail("online_only", null); }  // DIVOC's
      var methodId = isObj(proof) ? get(proof, "verificationMethod") : null;
      var method = typeof methodId === "string" ? (bundle.vc || []).filter(function (m) { return m.id === methodId; })[0] : null;
      if (!method) { no("unknown_key"); }
      if (!method.ed25519) { no("key_not_allowed"); }
      if (get(proof, "proofPurpose") !== "assertionMethod") { no("key_not_allowed"); }
      var checked;
      if (get(proof, "type") === "DataIntegrityProof" && get(proof, "cryptosuite") === "eddsa-jcs-2022") {
        checked = verifyJcs(doc, proof, method.ed25519);
      } else if (get(proof, "type") === "Ed25519Signature2020") {
        throw new Fail("online_only", null);  // URDNA2015 canonicalization: the server's
      } else {
        checked = Promise.resolve(false);
      }
      return checked.then(function (ok) {
        if (!ok) { no("bad_signature"); }
        if (undefinedTerms(doc, new Set(bundle.vcTerms || [])).length) { no("schema_error"); }
        if (get(doc, "issuer") !== methodId.split("#")[0]) { no("key_not_allowed"); }
        var types = get(doc, "type"), evidence = get(doc, "evidence");
        if (!Array.isArray(types) || types.indexOf("VerifiableCredential") < 0 || !isObj(get(doc, "credentialSubject")) ||
            !Array.isArray(evidence) || !evidence.length) {
          no("schema_error");
        }
        var until = get(doc, "expirationDate");
        if (typeof until === "string") {
          var seconds = isoSeconds(until);
          if (seconds === null) { no("schema_error"); }
          if (seconds < now) { no("expired"); }
        }
        var revoked = (bundle.revoked && bundle.revoked.vc) || [];
        evidence.forEach(function (e) {
          var cid = get(e, "certificateId");
          if (typeof cid === "string" && isObj(e) &&
              (revoked.indexOf(cid) >= 0 || revoked.indexOf(cid + "/v" + pyStr(get(e, "certificateVersion"))) >= 0)) {
            no("revoked");
          }
        });
        return { valid: true, reason: "ok", format: "vc", fields: fields };
      });
    });
  }

  // -- the server's dispatch (verify._verify) -------------------------------------------------
  function verifyText(text, bundle, now) {
    if (text.slice(0, 4) === "PK\x03\x04") {
      if (text.length > MAX_QR_TEXT) { throw new Fail("bad_encoding", null); }
      return verifyVc(text, bundle, now);
    }
    if (/^\s*[{]/.test(text)) { throw new Fail("online_only", null); }  // documents: the server's
    if (text.length > MAX_QR_TEXT) { throw new Fail("bad_encoding", null); }
    text = text.replace(/\r?\n$/, "");
    if (text.slice(0, 5) === "shc:/") { return verifyShc(jwsFromQr(text.replace(/\r\n/g, "\n").split("\n")), bundle, now); }
    if (text.slice(0, 3) === "eyJ" && text.split(".").length === 3) { return verifyShc(text, bundle, now); }
    var one = text.trim();
    if (one.slice(0, 5) === "shc:/") { throw new Fail("bad_encoding", "shc"); }
    if (one.slice(0, 4) === "HC1:") { return verifyDcc(one, bundle, now); }
    if (one.slice(0, 4) === "PK\x03\x04" || one.slice(0, 5) === "UEsDB") { return verifyVc(one, bundle, now); }
    throw new Fail("bad_encoding", one.length >= 4 && one[3] === ":" && /^[A-Za-z0-9]{3}$/.test(one.slice(0, 3)) ? "dcc" : null);
  }

  // The answer for one text against a trust bundle at a time (seconds since the epoch), in
  // the server's shape: {valid, format, reason, fields} (rows for SMART Health Cards).
  function check(text, bundle, now) {
    return Promise.resolve().then(function () { return verifyText(text, bundle, now); }).catch(function (e) {
      if (e instanceof Fail) {
        var format = e.format !== undefined ? e.format : (e.reason === "online_only" ? null : "shc");
        return { valid: false, reason: e.reason, format: e.reason === "online_only" ? null : format, rows: e.rows, fields: e.fields || {} };
      }
      return { valid: false, reason: "online_only", format: null, fields: {} };
    });
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
      return check(text, bundle, Date.now() / 1000);
    }, function () {
      return { valid: false, reason: "online_only", format: null, fields: {} };
    }).then(function (result) {
      if (!result.rows && result.valid) { result.rows = rowsOf(result.fields, "", []); }
      return result;
    });
  }

  var form = document.getElementById("verify-form");
  form.addEventListener("submit", function (event) {
    if (navigator.onLine) { return; }
    event.preventDefault();
    verifyOffline(document.getElementById("qr").value.trim()).then(render);
  });
  window.immunetVerifyOffline = verifyOffline;
  // For the browser tests: the same check against a given trust bundle and time (seconds).
  window.immunetVerifyWith = check;

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

  // Scanning with the camera, where the browser reads QR codes itself (BarcodeDetector: not in
  // every browser, so the control stays hidden without it; pasting and photos always work).
  // Chunked SMART Health Cards are gathered part by part; the text then goes through the form,
  // so the answer is the server's online and this page's offline, as for a paste.
  function cameraScanner() {
    var box = document.getElementById("camera-scan");
    if (!box || !("BarcodeDetector" in window) || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { return; }
    window.BarcodeDetector.getSupportedFormats().then(function (formats) {
      if (formats.indexOf("qr_code") < 0) { return; }
      var button = document.getElementById("camera-start"), video = document.getElementById("camera-video");
      var status = document.getElementById("camera-status"), stream = null, timer = null, parts = {};
      var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      box.hidden = false;
      function stop() {
        if (timer) { clearTimeout(timer); timer = null; }
        if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
        video.hidden = true;
        button.textContent = texts.scan;
      }
      function done(text) {
        stop();
        status.textContent = "";
        document.getElementById("qr").value = text;
        form.requestSubmit();
      }
      function read(value) {
        var m = /^shc:\/(\d+)\/(\d+)\//.exec(value);
        if (!m) { done(value); return; }
        var total = Number(m[2]);
        parts[m[1]] = value;
        var have = Object.keys(parts).filter(function (k) { return parts[k].indexOf("shc:/" + k + "/" + total + "/") === 0; });
        if (have.length >= total) {
          var all = [];
          for (var i = 1; i <= total; i++) { all.push(parts[i]); }
          if (all.every(Boolean)) { parts = {}; done(all.join("\n")); return; }
        }
        status.textContent = texts.part.replace("{n}", m[1]).replace("{total}", String(total));
      }
      function look() {
        detector.detect(video).then(function (codes) {
          if (!stream) { return; }
          if (codes.length) { read(codes[0].rawValue); }
          if (stream) { timer = setTimeout(look, 250); }
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
  cameraScanner();

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
