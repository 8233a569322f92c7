/* Checks the audit log in this browser instead of trusting the server's word for it.
 *
 * The server signs checkpoints of an RFC 9162 Merkle tree over the events' canonical bytes
 * (records/audit/merkle.py, records/audit/log.py): leaf = SHA-256(0x00 || bytes), node =
 * SHA-256(0x01 || left || right), the empty tree's root = SHA-256(""), and an Ed25519 signature
 * over "records audit checkpoint v1\ntree_size N\nroot_hash H\ntimestamp T\n". This script fetches
 * the checkpoint, the published keys and the proofs from /console/audit/*.json and verifies them
 * with WebCrypto (RFC 9162 §2.1.3.2 and §2.1.4.2); the last checkpoint that passed is kept in
 * localStorage, so the next visit checks that the log only grew.
 *
 * window.RecordsAudit exposes the algorithms (the browser tests call them directly).
 */
(function () {
  "use strict";

  const STORE_KEY = "records.audit.checkpoint.v1";
  const KEYS_KEY = "records.audit.keys.v1";
  const HEX = /^(?:[0-9a-f]{2})*$/;

  class Malformed extends Error {}

  const subtle = () => (window.isSecureContext && window.crypto && window.crypto.subtle) || null;

  // --- bytes ------------------------------------------------------------------------------

  function hexToBytes(hex) {
    if (typeof hex !== "string" || !HEX.test(hex)) throw new Malformed("not lowercase hex");
    const out = new Uint8Array(hex.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
    return out;
  }

  function bytesToHex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function base64ToBytes(text) {
    if (typeof text !== "string") throw new Malformed("not base64");
    let binary;
    try {
      binary = atob(text);
    } catch (e) {
      throw new Malformed("not base64");
    }
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  }

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }

  function equal(a, b) {
    if (!a || !b || a.length !== b.length) return false;
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
    return diff === 0;
  }

  function hash32(hex) {
    const bytes = hexToBytes(hex);
    if (bytes.length !== 32) throw new Malformed("not a SHA-256 hash");
    return bytes;
  }

  // --- the tree (RFC 9162) ----------------------------------------------------------------

  async function sha256(bytes) {
    return new Uint8Array(await subtle().digest("SHA-256", bytes));
  }
  const leafHash = (entry) => sha256(concat(Uint8Array.of(0), entry));
  const nodeHash = (left, right) => sha256(concat(Uint8Array.of(1), left, right));
  const emptyRoot = () => sha256(new Uint8Array(0));

  // Sizes go beyond 2**31, where JavaScript's bitwise operators stop working: halve arithmetically.
  const odd = (n) => n % 2 === 1;
  const half = (n) => Math.floor(n / 2);
  const isCount = (n) => Number.isSafeInteger(n) && n >= 0;
  function isPowerOfTwo(n) {
    while (n > 1 && !odd(n)) n = half(n);
    return n === 1;
  }

  /** §2.1.3.2: does ``path`` lead from the leaf at ``index`` of a tree of ``size`` to ``root``? */
  async function verifyInclusion(index, size, leaf, path, root) {
    if (!isCount(index) || !isCount(size) || index >= size) return false;
    let fn = index, sn = size - 1, r = leaf;
    for (const p of path) {
      if (sn === 0) return false;
      if (odd(fn) || fn === sn) {
        r = await nodeHash(p, r);
        if (!odd(fn)) {
          while (!odd(fn) && fn !== 0) { fn = half(fn); sn = half(sn); }
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn = half(fn); sn = half(sn);
    }
    return sn === 0 && equal(r, root);
  }

  /** §2.1.4.2: is the tree of ``second`` leaves (``secondRoot``) an extension of the one of
   * ``first`` leaves (``firstRoot``), by ``path``? */
  async function verifyConsistency(first, second, firstRoot, secondRoot, path) {
    if (!isCount(first) || !isCount(second) || first > second) return false;
    if (first === second) return path.length === 0 && equal(firstRoot, secondRoot);
    if (first === 0) return path.length === 0 && equal(firstRoot, await emptyRoot());
    if (path.length === 0) return false;
    const proof = isPowerOfTwo(first) ? [firstRoot, ...path] : path.slice();
    let fn = first - 1, sn = second - 1;
    while (odd(fn)) { fn = half(fn); sn = half(sn); }
    let fr = proof[0], sr = proof[0];
    for (const c of proof.slice(1)) {
      if (sn === 0) return false;
      if (odd(fn) || fn === sn) {
        fr = await nodeHash(c, fr);
        sr = await nodeHash(c, sr);
        if (!odd(fn)) {
          while (!odd(fn) && fn !== 0) { fn = half(fn); sn = half(sn); }
        }
      } else {
        sr = await nodeHash(sr, c);
      }
      fn = half(fn); sn = half(sn);
    }
    return sn === 0 && equal(fr, firstRoot) && equal(sr, secondRoot);
  }

  // --- the signature ----------------------------------------------------------------------

  function checkpointMessage(cp) {
    return new TextEncoder().encode(
      `records audit checkpoint v1\ntree_size ${cp.tree_size}\nroot_hash ${cp.root_hash}\ntimestamp ${cp.timestamp}\n`);
  }

  function pemToSpki(pem) {
    const m = /-----BEGIN PUBLIC KEY-----([A-Za-z0-9+/=\s]+)-----END PUBLIC KEY-----/.exec(pem || "");
    if (!m) throw new Malformed("not a PEM public key");
    return base64ToBytes(m[1].replace(/\s+/g, ""));
  }

  /** "passed", "failed", "bad_key" (not a readable Ed25519 key) or "unsupported" (no Ed25519 in
   * this browser's WebCrypto). */
  async function verifySignature(cp, pem) {
    let key;
    try {
      key = await subtle().importKey("spki", pemToSpki(pem), { name: "Ed25519" }, false, ["verify"]);
    } catch (e) {
      if (e && e.name === "NotSupportedError") return "unsupported";
      return "bad_key";
    }
    let signature;
    try {
      signature = base64ToBytes(cp.signature);
    } catch (e) {
      return "failed";
    }
    if (signature.length !== 64) return "failed";
    try {
      return (await subtle().verify({ name: "Ed25519" }, key, signature, checkpointMessage(cp))) ? "passed" : "failed";
    } catch (e) {
      return e && e.name === "NotSupportedError" ? "unsupported" : "failed";
    }
  }

  function checkedCheckpoint(cp) {
    if (!cp || typeof cp !== "object" || !isCount(cp.tree_size) || typeof cp.timestamp !== "string"
        || typeof cp.key_id !== "string" || typeof cp.signature !== "string") throw new Malformed("checkpoint");
    hash32(cp.root_hash);
    return { tree_size: cp.tree_size, root_hash: cp.root_hash, timestamp: cp.timestamp, key_id: cp.key_id,
             signature: cp.signature };
  }

  // --- talking to the server --------------------------------------------------------------

  class Unanswered extends Error {
    constructor(what, status) { super(what); this.what = what; this.status = status; }
  }

  async function fetchJson(url, what) {
    let response;
    try {
      response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    } catch (e) {
      throw new Unanswered(what, "—");
    }
    if (!response.ok) throw new Unanswered(what, String(response.status));
    try {
      return await response.json();
    } catch (e) {
      throw new Malformed(what);
    }
  }

  // --- what the page says -----------------------------------------------------------------

  function messages() {
    const found = {};
    document.querySelectorAll("#verify-messages [data-key]").forEach((el) => { found[el.dataset.key] = el.textContent; });
    return found;
  }

  function say(key, values) {
    const text = messages()[key] || key;
    return text.replace(/\{(\w+)\}/g, (all, name) => (values && name in values ? String(values[name]) : all));
  }

  function when(timestamp) {
    const zone = (document.getElementById("integrity") || document.body).dataset.timeZone;
    const moment = new Date(String(timestamp).replace(/(\.\d{3})\d*Z$/, "$1Z"));
    if (Number.isNaN(moment.getTime())) return String(timestamp);
    try {
      return moment.toLocaleString(document.documentElement.lang || undefined, zone ? { timeZone: zone } : {});
    } catch (e) {
      return moment.toISOString();
    }
  }

  function remembered() {
    try {
      return checkedCheckpoint(JSON.parse(localStorage.getItem(STORE_KEY)));
    } catch (e) {
      return null;
    }
  }

  function rememberedKeys() {
    try {
      const keys = JSON.parse(localStorage.getItem(KEYS_KEY));
      return keys && typeof keys === "object" ? keys : {};
    } catch (e) {
      return {};
    }
  }

  /** Checks the current checkpoint: its signature, and that it extends the remembered one.
   * Returns {checkpoint, checks: [{status, text}], status, signed} where status is "passed",
   * "failed" or "unchecked" (nothing failed but something could not be checked). The current
   * checkpoint is remembered only when no check failed. */
  async function checkCurrentCheckpoint() {
    const checks = [];
    const add = (status, key, values) => checks.push({ status, text: say(key, values) });
    const outcome = (checkpoint, signed) => {
      const status = checks.some((c) => c.status === "failed") ? "failed"
        : checks.some((c) => c.status === "unchecked") ? "unchecked" : "passed";
      return { checkpoint, checks, status, signed };
    };
    if (!subtle()) {
      add("unchecked", "no_webcrypto");
      return outcome(null, "unchecked");
    }
    let cp, keys;
    try {
      cp = checkedCheckpoint(await fetchJson("/console/audit/checkpoint.json", "checkpoint"));
      keys = await fetchJson("/console/audit/public-keys.json", "keys");
      if (!keys || !Array.isArray(keys.items)) throw new Malformed("keys");
    } catch (e) {
      if (e instanceof Unanswered) add("unchecked", "fetch_failed", { what: say("what_" + e.what), status: e.status });
      else add("failed", "malformed", { what: say(e.message === "keys" ? "what_keys" : "what_checkpoint") });
      return outcome(null, "unchecked");
    }

    // The signature, with the key of the checkpoint's key id.
    let signed = "unchecked";
    const key = keys.items.find((k) => k && k.key_id === cp.key_id);
    const seenKeys = rememberedKeys();
    if (!key || typeof key.public_key !== "string") {
      add("failed", "sig_unknown_key", { key: cp.key_id });
      signed = "failed";
    } else {
      let fingerprint = "";
      try {
        fingerprint = bytesToHex(await sha256(pemToSpki(key.public_key)));
      } catch (e) { /* reported as a bad key below */ }
      const verdict = fingerprint ? await verifySignature(cp, key.public_key) : "bad_key";
      if (verdict === "passed") {
        add("passed", "sig_passed", { size: cp.tree_size, key: cp.key_id, fingerprint });
      } else if (verdict === "unsupported") {
        add("unchecked", "sig_unsupported");
      } else {
        add("failed", verdict === "bad_key" ? "sig_bad_key" : "sig_failed", { key: cp.key_id });
      }
      signed = verdict === "passed" ? "passed" : verdict === "unsupported" ? "unchecked" : "failed";
      if (fingerprint && seenKeys[cp.key_id] && seenKeys[cp.key_id] !== fingerprint) {
        add("failed", "key_changed", { key: cp.key_id });
        signed = "failed";
      }
      if (fingerprint) seenKeys[cp.key_id] = seenKeys[cp.key_id] || fingerprint;
    }

    const root = hash32(cp.root_hash);
    if (cp.tree_size === 0) {
      add(equal(root, await emptyRoot()) ? "passed" : "failed",
          equal(root, await emptyRoot()) ? "empty_root_passed" : "empty_root_failed");
    }

    // The log only grows: consistency with what this browser saw last.
    const before = remembered();
    if (!before) {
      add("unchecked", "first_visit", { size: cp.tree_size });
    } else {
      const seen = { size: cp.tree_size, old: before.tree_size, when: when(before.timestamp) };
      const oldRoot = hash32(before.root_hash);
      if (before.tree_size > cp.tree_size) {
        add("failed", "shrunk", seen);
      } else if (before.tree_size === cp.tree_size) {
        add(equal(oldRoot, root) ? "passed" : "failed", equal(oldRoot, root) ? "same" : "fork", seen);
      } else if (before.tree_size === 0) {
        add(equal(oldRoot, await emptyRoot()) ? "passed" : "failed",
            equal(oldRoot, await emptyRoot()) ? "consistent" : "inconsistent", seen);
      } else {
        try {
          const proof = await fetchJson(
            `/console/audit/proofs/consistency.json?first=${before.tree_size}&second=${cp.tree_size}`, "consistency");
          if (!proof || !Array.isArray(proof.path) || proof.first !== before.tree_size || proof.second !== cp.tree_size) {
            throw new Malformed("consistency");
          }
          const holds = await verifyConsistency(before.tree_size, cp.tree_size, oldRoot, root, proof.path.map(hash32));
          add(holds ? "passed" : "failed", holds ? "consistent" : "inconsistent", seen);
        } catch (e) {
          if (e instanceof Unanswered) add("unchecked", "fetch_failed", { what: say("what_consistency"), status: e.status });
          else add("failed", "malformed", { what: say("what_consistency") });
        }
      }
    }
    const result = outcome(cp, signed);
    if (result.status !== "failed") {
      try {
        localStorage.setItem(STORE_KEY, JSON.stringify(cp));
        localStorage.setItem(KEYS_KEY, JSON.stringify(seenKeys));
      } catch (e) { /* storage full or refused: the next visit starts afresh */ }
    }
    return result;
  }

  /** Is the event at ``seq``, whose canonical bytes are ``canonical`` (base64), in the tree of
   * the verified checkpoint ``cp``? "passed", "failed", "bytes" (the bytes are not the log's),
   * "pending" (not sealed into ``cp`` yet). */
  async function checkInclusion(seq, canonical, cp) {
    if (seq >= cp.tree_size) return "pending";
    const bytes = base64ToBytes(canonical);
    const proof = await fetchJson(`/console/audit/proofs/inclusion.json?index=${seq}&tree_size=${cp.tree_size}`, "inclusion");
    if (!proof || !Array.isArray(proof.path) || proof.index !== seq || proof.tree_size !== cp.tree_size) {
      throw new Malformed("inclusion");
    }
    const leaf = await leafHash(bytes);
    // The server's leaf hash is not needed to verify; a different one says which part is wrong.
    if (typeof proof.leaf_hash === "string" && proof.leaf_hash !== bytesToHex(leaf)) return "bytes";
    const holds = await verifyInclusion(seq, cp.tree_size, leaf, proof.path.map(hash32), hash32(cp.root_hash));
    return holds ? "passed" : "failed";
  }

  // --- the integrity page -----------------------------------------------------------------

  function statusItem(status, text) {
    const li = document.createElement("li");
    li.className = "check-" + status;
    // "{status}: {text}" in the page's language (Chinese takes a full-width colon).
    const [before, after] = say("labelled").split("{text}");
    const label = document.createElement("strong");
    label.textContent = before.replace("{status}", say(status));
    li.append(label, document.createTextNode(text + (after || "")));
    return li;
  }

  function showRemembered() {
    const target = document.getElementById("remembered");
    if (!target) return;
    const cp = remembered();
    target.textContent = cp ? say("remembered", { size: cp.tree_size, when: when(cp.timestamp) }) : say("remembered_none");
  }

  async function runIntegrityPage() {
    const list = document.getElementById("checks");
    const summary = document.getElementById("checks-summary");
    const again = document.getElementById("run-checks");
    const forget = document.getElementById("forget-checkpoint");
    again.disabled = true;
    list.replaceChildren();
    summary.textContent = say("running");
    summary.className = "summary";
    let result;
    try {
      result = await checkCurrentCheckpoint();
    } catch (e) {
      result = { checks: [{ status: "failed", text: say("malformed", { what: say("what_checkpoint") }) }], status: "failed" };
    }
    for (const check of result.checks) list.append(statusItem(check.status, check.text));
    summary.textContent = say(result.status === "passed" ? "summary_ok" : result.status === "failed" ? "summary_failed" : "summary_partial");
    summary.className = "summary check-" + result.status;
    document.getElementById("integrity").dataset.result = result.status;
    showRemembered();
    again.hidden = false;
    forget.hidden = false;
    again.disabled = false;
  }

  // --- Verify beside each event in the explorer ---------------------------------------------

  let current = null; // this page's verified checkpoint: {checkpoint, status, signed}

  async function verifiedCheckpoint(seq) {
    if (!current || current.status === "failed" || (current.checkpoint && seq >= current.checkpoint.tree_size)) {
      current = await checkCurrentCheckpoint();
    }
    return current;
  }

  function rowShowsItsBytes(row, canonical) {
    let event;
    try {
      event = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(base64ToBytes(canonical)));
    } catch (e) {
      return false;
    }
    const seq = Number(row.dataset.seq);
    const action = row.querySelector("td code");
    return event && event.seq === seq && action !== null && action.textContent === event.action;
  }

  async function verifyRow(button) {
    const row = button.closest("tr");
    const output = row.querySelector("output.verify-result");
    const seq = Number(row.dataset.seq);
    const canonical = row.dataset.canonical;
    const show = (status, key, values) => {
      output.className = "verify-result check-" + status;
      output.textContent = status === "running" ? say(key, values)
        : say("labelled", { status: say(status), text: say(key, values) });
      row.dataset.verified = status;
    };
    button.disabled = true;
    show("running", "running");
    try {
      if (!subtle()) return show("unchecked", "no_webcrypto");
      if (!isCount(seq) || !rowShowsItsBytes(row, canonical)) return show("failed", "inc_row");
      const state = await verifiedCheckpoint(seq);
      if (!state.checkpoint) return show(state.status === "failed" ? "failed" : "unchecked", "inc_checkpoint_failed");
      if (state.status === "failed") return show("failed", "inc_checkpoint_failed");
      const found = await checkInclusion(seq, canonical, state.checkpoint);
      const values = { seq, size: state.checkpoint.tree_size };
      if (found === "pending") return show("unchecked", "inc_pending", values);
      if (found === "bytes") return show("failed", "inc_bytes", values);
      if (found === "failed") return show("failed", "inc_failed", values);
      if (state.signed !== "passed") return show("unchecked", "inc_unsigned", values);
      return show("passed", "inc_passed", values);
    } catch (e) {
      if (e instanceof Unanswered) return show("unchecked", "fetch_failed", { what: say("what_" + e.what), status: e.status });
      return show("failed", "malformed", { what: say("what_inclusion") });
    } finally {
      button.disabled = false;
    }
  }

  function start() {
    if (document.getElementById("checks")) {
      document.getElementById("run-checks").addEventListener("click", runIntegrityPage);
      document.getElementById("forget-checkpoint").addEventListener("click", () => {
        localStorage.removeItem(STORE_KEY);
        localStorage.removeItem(KEYS_KEY);
        showRemembered();
      });
      runIntegrityPage();
    }
    document.querySelectorAll("button.verify-event").forEach((button) => {
      button.hidden = false;
      button.addEventListener("click", () => verifyRow(button));
    });
  }

  window.RecordsAudit = {
    hexToBytes, bytesToHex, base64ToBytes, leafHash, nodeHash, emptyRoot, verifyInclusion, verifyConsistency,
    verifySignature, checkpointMessage, checkCurrentCheckpoint, checkInclusion, STORE_KEY,
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
