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

function fromBase64(text) {
  return Uint8Array.from(atob(text), function (c) { return c.charCodeAt(0); });
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce(function (n, p) { return n + p.length; }, 0));
  let at = 0;
  for (const part of parts) { out.set(part, at); at += part.length; }
  return out;
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

// -- a Fabric block's fields, read from its protobuf bytes (only what is hashed) -----

function varint(bytes, at) {
  let value = 0, scale = 1;
  for (;;) {
    if (at >= bytes.length) throw new Error("the block's bytes end inside a number");
    const byte = bytes[at++];
    value += (byte & 0x7f) * scale;
    scale *= 128;
    if (byte < 0x80) return [value, at];
  }
}

// Each field of a protobuf message: {number, start, end} (a length-delimited field's
// bytes) or {number, value} (a varint); other wire types are skipped.
function fields(bytes, start, end) {
  const found = [];
  let at = start;
  while (at < end) {
    let key, value;
    [key, at] = varint(bytes, at);
    const number = Math.floor(key / 8), wire = key % 8;
    if (wire === 0) { [value, at] = varint(bytes, at); found.push({number, value}); }
    else if (wire === 2) {
      [value, at] = varint(bytes, at);
      found.push({number, start: at, end: at + value});
      at += value;
    } else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else throw new Error("the block's bytes hold an unknown wire type " + wire);
  }
  if (at !== end) throw new Error("the block's bytes end inside a field");
  return found;
}

// Block {header: {number, previous_hash, data_hash}, data: {repeated data}}.
function readBlock(bytes) {
  const block = {number: 0, previous: new Uint8Array(0), dataHash: new Uint8Array(0), data: []};
  for (const field of fields(bytes, 0, bytes.length)) {
    if (field.number === 1 && field.end !== undefined) {
      for (const h of fields(bytes, field.start, field.end)) {
        if (h.number === 1 && h.value !== undefined) block.number = h.value;
        if (h.number === 2 && h.end !== undefined) block.previous = bytes.slice(h.start, h.end);
        if (h.number === 3 && h.end !== undefined) block.dataHash = bytes.slice(h.start, h.end);
      }
    }
    if (field.number === 2 && field.end !== undefined) {
      for (const d of fields(bytes, field.start, field.end)) {
        if (d.number === 1 && d.end !== undefined) block.data.push(d);
      }
    }
  }
  return block;
}

// -- Fabric's header hash: SHA-256 of DER(SEQUENCE {INTEGER, OCTET STRING, OCTET STRING})

function derLength(length) {
  if (length < 0x80) return [length];
  const body = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) body.unshift(n % 256);
  return [0x80 | body.length].concat(body);
}

function der(tag, content) {
  return concat([new Uint8Array([tag].concat(derLength(content.length))), content]);
}

function derInteger(value) {
  const body = [];
  for (let n = value; n > 0; n = Math.floor(n / 256)) body.unshift(n % 256);
  if (!body.length || body[0] & 0x80) body.unshift(0);  // non-negative stays positive
  return der(0x02, new Uint8Array(body));
}

function headerPreimage(number, previous, dataHash) {
  return der(0x30, concat([derInteger(number), der(0x04, previous), der(0x04, dataHash)]));
}

// -- the journal block's own header (ledgerdb/block.py header_hash) ------------------

function uint(value, size) {
  const out = new Uint8Array(size);
  for (let i = size - 1, n = value; i >= 0; i--, n = Math.floor(n / 256)) out[i] = n % 256;
  return out;
}

function text16(value) {
  const bytes = new TextEncoder().encode(value);
  return concat([uint(bytes.length, 2), bytes]);
}

function journalHeaderPreimage(proof) {
  return concat([
    text16(proof.strandId), uint(proof.sequenceNo, 8), text16(proof.transactionId),
    uint(proof.timestampMicros, 8),  // a time after 1970: the signed field's bytes are these
  ]);
}

// Ion binary of {} (version marker, empty struct): the orderer's every transactionInfo.
const EMPTY_ION_STRUCT = "e00100ead0";

// -- the check, one step a line ----------------------------------------------------

function step(list, text, value, verdict) {
  const item = document.createElement("li");
  if (verdict !== undefined) {
    item.className = verdict ? "step-ok" : "step-bad";
    const mark = document.createElement("strong");
    mark.textContent = verdict ? "✓ " : "✗ ";
    item.appendChild(mark);
  }
  item.appendChild(document.createTextNode(text + " "));
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
  let failed = "";
  function check(name, text, computed, expected) {
    const ok = toHex(computed) === expected;
    step(list, text + (ok ? "" : " — expected " + expected + ", computed"), toHex(computed), ok);
    if (!ok && !failed) failed = name;
  }
  const entry = fromBase64(proof.entry);
  let block;
  try {
    block = readBlock(entry);
  } catch (error) {
    result.className = "proof-bad";
    result.textContent = "NOT verified: " + error.message;
    return;
  }
  if (tamper === "block" && block.data.length) entry[block.data[0].end - 1] ^= 0x01;
  const siblings = proof.proof.slice();
  if (tamper === "proof" && siblings.length) {
    const first = fromHex(siblings[0]);
    first[0] ^= 0x01;
    siblings[0] = toHex(first);
  }
  // 1-2: the Fabric block, as the orderer stored it in its journal
  const envelopes = block.data.map(function (d) { return entry.slice(d.start, d.end); });
  check("data hash", "data hash = SHA-256 of the block's " + envelopes.length +
        " transaction(s), in order; the header says " + toHex(block.dataHash) + ":",
        await sha256(concat(envelopes)), toHex(block.dataHash));
  check("header hash", "header hash = SHA-256 of DER(number " + block.number +
        ", previous hash " + toHex(block.previous) + ", data hash); this page shows:",
        await sha256(headerPreimage(block.number, block.previous, block.dataHash)),
        section.dataset.headerHash);
  // 3-6: the journal block that holds it
  const entryHash = await sha256(entry);
  step(list, "journal entry hash = SHA-256 of the block's " + entry.length + " bytes:",
       toHex(entryHash));
  const journalHeader = await sha256(journalHeaderPreimage(proof));
  step(list, "journal header hash = SHA-256 of strand " + proof.strandId + ", sequence " +
       proof.sequenceNo + ", transaction " + proof.transactionId + ", time " +
       proof.timestampMicros + " µs:", toHex(journalHeader));
  let infoHash = fromHex(proof.infoHash);
  if (toHex(fromBase64(proof.transactionInfo)) === EMPTY_ION_STRUCT) {
    infoHash = await sha256(new Uint8Array([0x0b, 0xd0, 0x0e]));  // Ion Hash of {}
    check("transactionInfo hash", "transactionInfo is the empty struct {}: its Ion hash = " +
          "SHA-256(0B D0 0E); the journal states " + proof.infoHash + ":",
          infoHash, proof.infoHash);
  } else {
    step(list, "transactionInfo's Ion hash, as the journal states it (not an empty struct: " +
         "not re-hashed here):", proof.infoHash);
  }
  const entries = await dot(await dot(infoHash, entryHash), journalHeader);
  step(list, "entries hash = dot(dot(transactionInfo hash, entry hash), header hash):",
       toHex(entries));
  let hash = await dot(entries, fromHex(proof.previousBlockHash));
  check("journal block hash", "journal block " + proof.sequenceNo + " of " + proof.orderer +
        " = dot(entries hash, previous block hash " + proof.previousBlockHash +
        "); the journal holds " + proof.blockHash + ":", hash, proof.blockHash);
  // 7: the path from that block to the journal's digest
  for (const sibling of siblings) {
    hash = await dot(hash, fromHex(sibling));
    step(list, "dot with " + sibling + " gives", toHex(hash));
  }
  check("proof", "digest at tip " + proof.tip + " (the path ends here):", hash, proof.digest);
  result.className = failed ? "proof-bad" : "proof-ok";
  result.textContent = failed
    ? "NOT verified: the " + failed + " step fails" + (tamper ? " (tampered " + tamper + ")" : "")
    : "verified: block " + proof.sequenceNo + " hashes to its header, its journal block " +
      "and the journal's digest";
  result.dataset.failed = failed;
}

// Each vote's proof on the Governance page: its journal block hash, folded with the
// siblings, must give the control plane's digest.
async function verifyVotes() {
  for (const box of document.querySelectorAll(".vote-proof")) {
    let hash = fromHex(box.dataset.blockHash);
    for (const sibling of box.dataset.proof.split(" ").filter(Boolean)) {
      hash = await dot(hash, fromHex(sibling));
    }
    const ok = toHex(hash) === box.dataset.digest;
    const out = box.querySelector(".vote-check");
    out.className = "vote-check " + (ok ? "proof-ok" : "proof-bad");
    out.textContent = ok
      ? "✓ checked in this page: the block hash and the proof give the digest"
      : "✗ checked in this page: the proof gives " + toHex(hash) + ", not the digest";
  }
}

document.addEventListener("DOMContentLoaded", function () {
  follow();
  const votes = document.getElementById("verify-votes");
  if (votes) votes.addEventListener("click", verifyVotes);
  const section = document.getElementById("proof");
  if (section) {
    document.getElementById("verify").addEventListener("click", function () {
      verify(section, false);
    });
    document.getElementById("verify-tampered").addEventListener("click", function () {
      verify(section, "proof");
    });
    document.getElementById("verify-tampered-block").addEventListener("click", function () {
      verify(section, "block");
    });
  }
});
