// The explorer's one script: live updates (server-sent events) and the in-page proof
// check (Web Crypto SHA-256). Pages work without it; it only adds what needs a script.
"use strict";

function say(text) {
  const live = document.getElementById("live");
  if (live) live.textContent = text;
}

function codeSpan(code) {
  const span = document.createElement("span");
  span.className = "code " + code;
  span.textContent = code;
  return span;
}

// A new row at the top of the block list, built from the event (never from HTML text).
function addBlockRow(table, block) {
  const row = document.createElement("tr");
  row.className = "new";
  const number = document.createElement("td");
  const link = document.createElement("a");
  link.href = "/channels/" + encodeURIComponent(block.channel) + "/blocks/" + block.number;
  link.textContent = String(block.number);
  number.appendChild(link);
  const txs = document.createElement("td");
  block.txs.forEach(function (tx, n) {
    if (n) txs.appendChild(document.createTextNode(", "));
    txs.appendChild(document.createTextNode((tx.function || tx.kind) + " "));
    txs.appendChild(codeSpan(tx.code));
  });
  const hash = document.createElement("td");
  const code = document.createElement("code");
  code.className = "hash";
  code.textContent = block.header_hash;
  hash.appendChild(code);
  row.append(number, txs, hash);
  table.tBodies[0].insertBefore(row, table.tBodies[0].firstChild);
}

// A channel the explorer has started following (created or joined since the page
// loaded): a link to its blocks in the header's channel list.
function addChannel(channel) {
  const list = document.getElementById("channels");
  const href = "/channels/" + encodeURIComponent(channel) + "/blocks";
  if (!list || list.querySelector('a[href="' + CSS.escape(href) + '"]')) return;
  const item = document.createElement("li");
  const link = document.createElement("a");
  link.href = href;
  link.textContent = channel;
  item.appendChild(link);
  list.appendChild(item);
  say("now following channel " + channel);
}

function follow() {
  if (!window.EventSource) return;
  const source = new EventSource("/events");
  source.addEventListener("open", function () {
    document.body.dataset.live = "yes";
    say("live");
  });
  source.addEventListener("error", function () { say("reconnecting…"); });
  source.addEventListener("channel", function (event) {
    addChannel(JSON.parse(event.data).channel);
  });
  source.addEventListener("block", function (event) {
    const block = JSON.parse(event.data);
    document.querySelectorAll('[data-height="' + CSS.escape(block.channel) + '"]').forEach(
      function (node) { node.textContent = String(block.number + 1); });
    const table = document.getElementById("blocks");
    const newest = !new URLSearchParams(location.search).has("before");
    if (table && newest && table.dataset.channel === block.channel &&
        !table.querySelector('a[href$="/blocks/' + block.number + '"]')) {
      addBlockRow(table, block);
    }
    say("block " + block.number + " of " + block.channel + " committed");
  });
}

// -- the proof check: QLDB's dot operator and the path to the digest ----------------

function fromHex(hex) {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.substr(i * 2, 2), 16);
  return bytes;
}

function toHex(bytes) {
  return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
}

// QLDB's hash order: signed bytes compared from the last byte to the first.
function smallerFirst(left, right) {
  for (let i = left.length - 1; i >= 0; i--) {
    const a = left[i] ^ 0x80, b = right[i] ^ 0x80;
    if (a !== b) return a < b;
  }
  return true;
}

async function dot(left, right) {
  if (!left.length) return right;
  if (!right.length) return left;
  const joined = new Uint8Array(left.length + right.length);
  const first = smallerFirst(left, right) ? [left, right] : [right, left];
  joined.set(first[0]);
  joined.set(first[1], first[0].length);
  return new Uint8Array(await crypto.subtle.digest("SHA-256", joined));
}

function step(list, text, value) {
  const item = document.createElement("li");
  item.textContent = text + " ";
  const code = document.createElement("code");
  code.textContent = value;
  item.appendChild(code);
  list.appendChild(item);
}

async function verify(section, tamper) {
  const result = document.getElementById("proof-result");
  const list = document.getElementById("proof-steps");
  list.textContent = "";
  result.className = "";
  result.textContent = "fetching the proof…";
  const url = "/channels/" + encodeURIComponent(section.dataset.channel) + "/blocks/" +
    section.dataset.block + "/proof";
  const answer = await fetch(url);
  const proof = await answer.json();
  if (!answer.ok) {
    result.className = "proof-bad";
    result.textContent = proof.error;
    return;
  }
  const siblings = proof.proof.slice();
  if (tamper && siblings.length) {
    const first = fromHex(siblings[0]);
    first[0] ^= 0x01;
    siblings[0] = toHex(first);
  }
  let hash = fromHex(proof.blockHash);
  if (tamper && !siblings.length) hash[0] ^= 0x01;
  step(list, "journal block " + proof.sequenceNo + " of " + proof.orderer + ", hash", toHex(hash));
  for (const sibling of siblings) {
    hash = await dot(hash, fromHex(sibling));
    step(list, "dot with " + sibling + " gives", toHex(hash));
  }
  step(list, "digest at tip " + proof.tip, proof.digest);
  const ok = toHex(hash) === proof.digest;
  result.className = ok ? "proof-ok" : "proof-bad";
  result.textContent = ok
    ? "verified: block " + proof.sequenceNo + " is in the journal's digest"
    : "NOT verified: the proof does not lead to the digest" + (tamper ? " (tampered)" : "");
}

document.addEventListener("DOMContentLoaded", function () {
  follow();
  const section = document.getElementById("proof");
  if (section) {
    document.getElementById("verify").addEventListener("click", function () {
      verify(section, false);
    });
    document.getElementById("verify-tampered").addEventListener("click", function () {
      verify(section, true);
    });
  }
});
