// The verifier's service worker: keeps /verify, its script and stylesheet and the trust list
// for use without network. Network first (fresh trust list and revocations whenever online),
// the saved copy when the network fails. Only GET requests of these paths are touched.
"use strict";
var CACHE = "immunet-verify-v1";
var SAVED = ["/verify", "/verify/offline.json", "/static/verify.js", "/static/portal.css",
  "/verify/manifest.webmanifest", "/static/verify-icon.svg"];

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) { return cache.addAll(SAVED); })
    .then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (n) { return n !== CACHE; }).map(function (n) { return caches.delete(n); }));
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener("fetch", function (event) {
  var url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin || SAVED.indexOf(url.pathname) < 0) {
    return;
  }
  var key = url.pathname;  // the page without its query (a language switch) shares one copy
  event.respondWith(fetch(event.request).then(function (response) {
    if (response.ok) {
      var copy = response.clone();
      caches.open(CACHE).then(function (cache) { cache.put(key, copy); });
    }
    return response;
  }).catch(function () {
    return caches.match(key).then(function (saved) { return saved || Response.error(); });
  }));
});
