// Verify a C2SP tlog-proof receipt in the browser, with WebCrypto only (SHA-256, Ed25519).
// The same checks as ledger/receipt.py's verify_receipt, as numbered steps shown to the reader:
//   (1) parse the receipt             C2SP tlog-proof
//   (2) parse the log's verifier key  C2SP signed-note § Verifier keys (the key ID must match the key)
//   (3) check the log's signature     C2SP signed-note: Ed25519 (type 0x01) over the note text
//   (4) read the checkpoint           C2SP tlog-checkpoint: origin = key name, tree size, root hash
//   (5) hash the entry                RFC 9162 §2.1.1: SHA-256(0x00 ‖ entry)
//   (6) check the inclusion proof     RFC 9162 §2.1.3.2, after checking the proof's length
//   (7) read the entry                a DSSE envelope of this registry, and its event type
// A step that fails stops the run; the verdict names it.

const HEADER = "c2sp.org/tlog-proof@v1";
const SIGNATURE_PREFIX = "\u2014 "; // signed-note: EM DASH, space
const ALG_ED25519 = 0x01;
const STEPS = [
  "Parse the receipt",
  "Parse the log's verifier key",
  "Check the log's signature on the checkpoint",
  "Read the checkpoint",
  "Hash the entry",
  "Check the inclusion proof",
  "Read the entry",
];

class StepError extends Error {}

const fail = (message) => {
  throw new StepError(message);
};
const utf8 = new TextEncoder();

// --- bytes -------------------------------------------------------------------------------------

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function b64encode(bytes) {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

// Strict base64 (RFC 4648 §4): padded, and canonical, so that no changed character (not even one
// in the unused low bits of the last group) decodes to the same bytes.
function b64decode(text, what) {
  if (!B64.test(text)) fail(`${what} is not valid base64`);
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  if (b64encode(bytes) !== text) fail(`${what} is not canonical base64`);
  return bytes;
}

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const sha256 = async (...parts) => new Uint8Array(await crypto.subtle.digest("SHA-256", concat(...parts)));

// Decimal without leading zeroes, as tlog-proof and tlog-checkpoint write them; BigInt, so that
// the bit arithmetic of step 6 is exact for any tree size.
const DECIMAL = /^(0|[1-9][0-9]*)$/;

// --- (1) C2SP tlog-proof -----------------------------------------------------------------------

function parseReceipt(text) {
  const sep = text.indexOf("\n\n");
  if (sep < 0) fail("the receipt has no blank line before its checkpoint");
  const lines = text.slice(0, sep).split("\n");
  const note = text.slice(sep + 2);
  if (lines[0] !== HEADER) fail(`the receipt must start with the line "${HEADER}"`);
  let pos = 1;
  let entry = null;
  if (pos < lines.length && lines[pos].startsWith("extra ")) {
    entry = b64decode(lines[pos].slice("extra ".length), "the extra line (the entry)");
    pos += 1;
  }
  const index = pos < lines.length && /^index (0|[1-9][0-9]*)$/.exec(lines[pos]);
  if (!index) fail("the receipt needs an \"index N\" line (decimal, no leading zeroes)");
  const proof = lines.slice(pos + 1).map((line, i) => {
    const hash = b64decode(line, `proof hash ${i + 1}`);
    if (hash.length !== 32) fail(`proof hash ${i + 1} is ${hash.length} bytes, not 32`);
    return hash;
  });
  return { index: BigInt(index[1]), proof, note, entry };
}

// --- (2) C2SP signed-note § Verifier keys: name+hexid+base64(0x01 ‖ public key) ---------------

async function parseVerifierKey(text) {
  const vkey = text.trim();
  const first = vkey.indexOf("+");
  const second = vkey.indexOf("+", first + 1); // the base64 may hold '+' itself
  if (first <= 0 || second < 0) fail("the key must be name+hexid+base64");
  const name = vkey.slice(0, first);
  const id = vkey.slice(first + 1, second);
  if (/\s/u.test(name)) fail("the key name must not contain spaces");
  if (!/^[0-9a-f]{8}$/.test(id)) fail(`the key ID "${id}" is not 8 lowercase hex digits`);
  const raw = b64decode(vkey.slice(second + 1), "the key material");
  if (raw.length !== 33 || raw[0] !== ALG_ED25519) fail("the key must be an Ed25519 key (type 0x01, 32 bytes)");
  const publicKey = raw.slice(1);
  // key ID = the first 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)
  const computed = hex((await sha256(utf8.encode(name), Uint8Array.of(0x0a, ALG_ED25519), publicKey)).slice(0, 4));
  if (computed !== id) fail(`the key ID ${id} does not match its key (${computed})`);
  return { name, id, publicKey };
}

// --- (3) C2SP signed-note: text, blank line, "— <name> base64(key ID ‖ signature)" lines -------

function parseNote(note) {
  const split = note.lastIndexOf("\n\n");
  if (split < 0) fail("the checkpoint note has no blank line before its signatures");
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  const control = /[\u0000-\u0009\u000b-\u001f\u007f]/.exec(text);
  if (control) fail(`the note text holds control character U+${control[0].charCodeAt(0).toString(16).padStart(4, "0")}`);
  if (!block.endsWith("\n")) fail("the note's signature lines must end with a newline");
  const signatures = block.slice(0, -1).split("\n").map((line, i) => {
    if (!line.startsWith(SIGNATURE_PREFIX)) fail(`signature line ${i + 1} does not start with "— "`);
    const rest = line.slice(SIGNATURE_PREFIX.length);
    const space = rest.indexOf(" ");
    const name = rest.slice(0, space);
    const blob = rest.slice(space + 1);
    if (space <= 0 || blob.includes(" ") || name.includes("+")) fail(`signature line ${i + 1} is not "— <name> <base64>"`);
    const raw = b64decode(blob, `signature line ${i + 1}`);
    if (raw.length < 5) fail(`signature line ${i + 1} is too short`);
    return { name, id: hex(raw.slice(0, 4)), signature: raw.slice(4) };
  });
  return { text, signatures };
}

async function checkSignature(note, key) {
  // Lines by other keys (witness cosignatures) are ignored; ours must be there once and verify.
  const ours = note.signatures.filter((s) => s.name === key.name && s.id === key.id);
  const others = note.signatures.length - ours.length;
  if (ours.length === 0) {
    const seen = note.signatures.map((s) => `${s.name}+${s.id}`).join(", ");
    fail(`the checkpoint is not signed by ${key.name}+${key.id} (signed by: ${seen})`);
  }
  if (ours.length > 1) fail(`the checkpoint carries two signatures by ${key.name}+${key.id}`);
  const { signature } = ours[0];
  if (signature.length !== 64) fail(`the signature is ${signature.length} bytes, not 64`);
  let cryptoKey;
  try {
    cryptoKey = await crypto.subtle.importKey("raw", key.publicKey, { name: "Ed25519" }, false, ["verify"]);
  } catch (error) {
    fail(`this browser cannot check Ed25519 signatures with WebCrypto (${error.name})`);
  }
  const valid = await crypto.subtle.verify({ name: "Ed25519" }, cryptoKey, signature, utf8.encode(note.text));
  if (!valid) fail(`the signature by ${key.name}+${key.id} does not verify: the checkpoint was changed`);
  const ignored = others ? `; ${others} other signature line${others > 1 ? "s" : ""} (witnesses) not checked` : "";
  return `Ed25519 signature by ${key.name}+${key.id} verifies${ignored}`;
}

// --- (4) C2SP tlog-checkpoint: origin, size, base64 root, optional extension lines -------------

function parseCheckpoint(text, key) {
  const [origin, size, root, ...extensions] = text.slice(0, -1).split("\n");
  if (root === undefined) fail("the checkpoint needs origin, size and root lines");
  if (origin !== key.name) fail(`the checkpoint's origin "${origin}" is not the key's name "${key.name}"`);
  if (!DECIMAL.test(size)) fail(`the tree size "${size}" is not a decimal number without leading zeroes`);
  const rootHash = b64decode(root, "the root hash");
  if (rootHash.length !== 32) fail(`the root hash is ${rootHash.length} bytes, not 32`);
  if (extensions.some((line) => !line)) fail("the checkpoint's extension lines must not be empty");
  return { origin, size: BigInt(size), root: rootHash };
}

// --- (6) RFC 9162 §2.1.3.2: verifying an inclusion proof ---------------------------------------

const bitLength = (n) => (n === 0n ? 0 : n.toString(2).length);
const onesIn = (n) => n.toString(2).split("1").length - 1;
const nodeHash = (left, right) => sha256(Uint8Array.of(0x01), left, right); // RFC 9162 §2.1.1

async function rootFromInclusionProof(index, size, leaf, proof) {
  // Step 1: the leaf must be inside the tree.
  if (index >= size) fail(`entry ${index} is not in a tree of size ${size}`);
  // The length the sizes call for (left implicit by the RFC): siblings below the point where the
  // paths to the leaf and to the last leaf part, plus left siblings on the right border above it.
  const inner = bitLength(index ^ (size - 1n));
  const expected = inner + onesIn(index >> BigInt(inner));
  if (proof.length !== expected) fail(`the proof has ${proof.length} hashes; entry ${index} of ${size} needs ${expected}`);
  // Step 2: fn = leaf_index, sn = tree_size − 1; step 3: r = the leaf hash.
  let fn = index;
  let sn = size - 1n;
  let r = leaf;
  // Step 4: fold in every proof hash p.
  for (const p of proof) {
    if (sn === 0n) fail("the proof is longer than the path to the root"); // step 4a
    if (fn & 1n || fn === sn) {
      // step 4b: p is a left sibling; then shift right until fn is odd or 0
      r = await nodeHash(p, r);
      if (!(fn & 1n)) {
        while (!(fn & 1n) && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = await nodeHash(r, p); // otherwise p is a right sibling
    }
    fn >>= 1n; // step 4c
    sn >>= 1n;
  }
  // Step 5: sn must be 0 once the path is consumed.
  if (sn !== 0n) fail("the proof is shorter than the path to the root");
  return r;
}

// --- (7) the entry: canonical JSON {"envelope": DSSE, "logged_at"} -----------------------------

function readEntry(entry) {
  let value;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(entry));
  } catch {
    fail("the entry is in the log, but it is not UTF-8 JSON");
  }
  const envelope = value?.envelope;
  if (typeof envelope?.payload !== "string" || !Array.isArray(envelope.signatures)) {
    fail("the entry is in the log, but it holds no DSSE envelope");
  }
  let payload;
  try {
    payload = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(b64decode(envelope.payload, "payload")));
  } catch {
    fail("the entry is in the log, but its envelope's payload is not base64 of JSON");
  }
  const shown = { logged_at: value.logged_at, payloadType: envelope.payloadType, payload, signatures: envelope.signatures };
  const signers = envelope.signatures.length;
  const message = `event type "${payload?.type}", logged at ${value.logged_at}, signed by ${signers} key${signers === 1 ? "" : "s"}`;
  return { message, shown };
}

// --- the run -----------------------------------------------------------------------------------

/** Verify receipt text against vkey text; report each step through onStep(number, ok, message). */
export async function verifyReceipt(receiptText, vkeyText, onStep) {
  let step = 0;
  const pass = (message) => onStep(step, true, message);
  try {
    step = 1;
    const receipt = parseReceipt(receiptText);
    const note = parseNote(receipt.note);
    pass(`entry ${receipt.index}, ${receipt.proof.length} proof hashes, ${note.signatures.length} signature line(s)`);
    step = 2;
    // WebCrypto exists only in a secure context (https, or http on localhost).
    if (!globalThis.isSecureContext || !globalThis.crypto?.subtle) {
      fail("this page is not in a secure context (https or localhost), so the browser offers no WebCrypto");
    }
    const key = await parseVerifierKey(vkeyText);
    pass(`${key.name}, key ID ${key.id} matches its key`);
    step = 3;
    pass(await checkSignature(note, key));
    step = 4;
    const checkpoint = parseCheckpoint(note.text, key);
    pass(`${checkpoint.origin} at size ${checkpoint.size}, root ${b64encode(checkpoint.root)}`);
    step = 5;
    if (receipt.entry === null) fail("the receipt carries no entry (no extra line)");
    const leaf = await sha256(Uint8Array.of(0x00), receipt.entry);
    pass(`${receipt.entry.length} bytes, leaf hash ${b64encode(leaf)}`);
    step = 6;
    const root = await rootFromInclusionProof(receipt.index, checkpoint.size, leaf, receipt.proof);
    if (!equal(root, checkpoint.root)) {
      fail(`the proof leads to root ${b64encode(root)}, not the checkpoint's root ${b64encode(checkpoint.root)}`);
    }
    pass(`the proof leads from entry ${receipt.index} to the checkpoint's root`);
    step = 7;
    const entry = readEntry(receipt.entry);
    pass(entry.message);
    return { ok: true, index: receipt.index, size: checkpoint.size, entry: entry.shown };
  } catch (error) {
    const message = error instanceof StepError ? error.message : `unexpected error: ${error}`;
    onStep(step, false, message);
    return { ok: false, step, message };
  }
}

// --- the page ----------------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

function showSteps() {
  const list = $("steps");
  list.replaceChildren(
    ...STEPS.map((title) => {
      const item = document.createElement("li");
      item.dataset.status = "skip";
      item.innerHTML = '<span class="mark" aria-hidden="true">–</span><span class="visually-hidden">Not run:</span> ';
      const name = document.createElement("strong");
      name.textContent = title;
      item.append(name);
      return item;
    }),
  );
  return list;
}

function markStep(list, number, ok, message) {
  const item = list.children[number - 1];
  item.dataset.status = ok ? "pass" : "fail";
  item.className = ok ? "ok" : "fail";
  item.querySelector(".mark").textContent = ok ? "✓" : "✗";
  item.querySelector(".visually-hidden").textContent = ok ? "Passed:" : "Failed:";
  item.append(`: ${message}`);
}

function setVerdict(ok, text) {
  const verdict = $("verdict");
  verdict.dataset.verdict = ok === null ? "running" : ok ? "verified" : "failed";
  verdict.className = ok === null ? "" : ok ? "ok" : "fail";
  verdict.textContent = text;
}

async function run(receiptText) {
  $("entry-view").hidden = true;
  setVerdict(null, "Verifying…");
  const list = showSteps();
  const result = await verifyReceipt(receiptText, $("vkey").value, (n, ok, message) => markStep(list, n, ok, message));
  if (result.ok) {
    setVerdict(true, `✓ Verified: entry ${result.index} is in the log at size ${result.size}`);
    $("entry-json").textContent = JSON.stringify(result.entry, null, 2);
    $("entry-view").hidden = false;
  } else {
    setVerdict(false, `✗ Not verified: step ${result.step} (${STEPS[result.step - 1]}) failed: ${result.message}`);
  }
}

async function fetchReceipt(index) {
  setVerdict(null, `Fetching the receipt of entry ${index}…`);
  let answer;
  try {
    answer = await fetch(`/v1/log/entries/${encodeURIComponent(index)}/receipt`);
  } catch (error) {
    setVerdict(false, `✗ Not verified: the receipt of entry ${index} could not be fetched: ${error.message}`);
    return;
  }
  if (!answer.ok) {
    const problem = await answer.json().catch(() => ({}));
    setVerdict(false, `✗ Not verified: no receipt for entry ${index}: ${problem.detail ?? answer.statusText}`);
    return;
  }
  const text = await answer.text();
  $("receipt").value = text;
  await run(text);
  $("result-heading").scrollIntoView(); // a reader who followed a "verify entry N" link came for this
}

$("verify-form").addEventListener("submit", (event) => {
  event.preventDefault();
  // A pasted receipt may have lost its final newline, which no signature covers: put it back.
  const text = $("receipt").value;
  run(text.endsWith("\n") ? text : `${text}\n`);
});

$("receipt-file").addEventListener("change", () => {
  const file = $("receipt-file").files[0];
  if (!file) return;
  const reader = new FileReader(); // read here, in the browser: nothing is uploaded
  reader.onload = () => {
    $("receipt").value = reader.result;
    run(reader.result); // the file's exact text, before the textarea normalises its line breaks
  };
  reader.onerror = () => setVerdict(false, `✗ Not verified: could not read ${file.name}`);
  reader.readAsText(file);
});

const preselected = new URLSearchParams(location.search).get("entry");
if (preselected !== null && /^[0-9]+$/.test(preselected)) fetchReceipt(preselected);
