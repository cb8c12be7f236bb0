// Sesame: security keys and passkeys in the browser (navigator.credentials).
// Served from /static/webauthn.js; the pages have no inline script (CSP script-src 'self').
// Each widget is an element with data-webauthn="register|passkey|mfa" and the URLs, CSRF
// token and messages in data- attributes; the server does every check.
"use strict";

(function () {
  function b64urlToBytes(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function bytesToB64url(buf) {
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // The server leaves out absent members, but be lenient with explicit nulls.
  function dropNulls(v) {
    if (Array.isArray(v)) return v.map(dropNulls);
    if (v && typeof v === "object") {
      var o = {};
      Object.keys(v).forEach(function (k) {
        if (v[k] !== null && v[k] !== undefined) o[k] = dropNulls(v[k]);
      });
      return o;
    }
    return v;
  }

  function creationOptions(pk) {
    pk = dropNulls(pk);
    if (window.PublicKeyCredential && PublicKeyCredential.parseCreationOptionsFromJSON) {
      return PublicKeyCredential.parseCreationOptionsFromJSON(pk);
    }
    var o = Object.assign({}, pk);
    o.challenge = b64urlToBytes(pk.challenge);
    o.user = Object.assign({}, pk.user, { id: b64urlToBytes(pk.user.id) });
    o.excludeCredentials = (pk.excludeCredentials || []).map(function (c) {
      return Object.assign({}, c, { id: b64urlToBytes(c.id) });
    });
    return o;
  }

  function requestOptions(pk) {
    pk = dropNulls(pk);
    if (window.PublicKeyCredential && PublicKeyCredential.parseRequestOptionsFromJSON) {
      return PublicKeyCredential.parseRequestOptionsFromJSON(pk);
    }
    var o = Object.assign({}, pk);
    o.challenge = b64urlToBytes(pk.challenge);
    o.allowCredentials = (pk.allowCredentials || []).map(function (c) {
      return Object.assign({}, c, { id: b64urlToBytes(c.id) });
    });
    return o;
  }

  function credentialJSON(cred) {
    if (typeof cred.toJSON === "function") return cred.toJSON();
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: bytesToB64url(cred.rawId),
      type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: bytesToB64url(r.clientDataJSON) },
    };
    if (r.attestationObject) {
      out.response.attestationObject = bytesToB64url(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = bytesToB64url(r.authenticatorData);
      out.response.signature = bytesToB64url(r.signature);
      if (r.userHandle) out.response.userHandle = bytesToB64url(r.userHandle);
    }
    return out;
  }

  function post(url, csrf, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {}),
    }).then(function (resp) {
      return resp.json().then(function (json) {
        if (!resp.ok) {
          var msg = json && json.error && json.error.message;
          throw new Error(msg || "HTTP " + resp.status);
        }
        return json;
      });
    });
  }

  function setup(el) {
    var kind = el.getAttribute("data-webauthn");
    var button = el.querySelector("button");
    var status = el.querySelector("[data-status]");
    var label = el.querySelector("input[name=label]");
    var keyKind = el.querySelector("select[name=kind]");
    var csrf = el.getAttribute("data-csrf");
    var start = el.getAttribute("data-start");
    var finish = el.getAttribute("data-finish");
    function say(text, isError) {
      if (!status) return;
      status.textContent = text;
      status.className = isError ? "error" : "notice";
      status.hidden = false;
    }
    if (!window.PublicKeyCredential || !navigator.credentials) {
      say(el.getAttribute("data-unsupported"), true);
      if (button) button.disabled = true;
      return;
    }
    button.addEventListener("click", function (ev) {
      ev.preventDefault();
      if (kind === "register" && label && !label.value.trim()) {
        label.focus();
        return;
      }
      button.disabled = true;
      say(el.getAttribute("data-waiting"), false);
      var started;
      var body = {};
      if (kind === "register") {
        body = { label: label.value };
        if (keyKind) body.kind = keyKind.value;
      }
      post(start, csrf, body)
        .then(function (s) {
          started = s;
          var pk = s.options.publicKey;
          if (kind === "register") {
            return navigator.credentials.create({ publicKey: creationOptions(pk) });
          }
          return navigator.credentials.get({ publicKey: requestOptions(pk) });
        })
        .then(function (cred) {
          if (!cred) throw new Error(el.getAttribute("data-cancelled"));
          return post(finish, csrf, { id: started.id || "", credential: credentialJSON(cred) });
        })
        .then(function (done) {
          window.location.assign(done.redirect || "/account");
        })
        .catch(function (err) {
          button.disabled = false;
          var cancelled = err && (err.name === "NotAllowedError" || err.name === "AbortError");
          say(cancelled ? el.getAttribute("data-cancelled") : err.message, true);
        });
    });
  }

  function init() {
    var els = document.querySelectorAll("[data-webauthn]");
    for (var i = 0; i < els.length; i++) setup(els[i]);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
