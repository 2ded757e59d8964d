// Finds a decimal counter such that SHA-256(challenge + counter) starts with
// `bits` zero bits, with WebCrypto. Digests run in batches: each one is a
// promise, and awaiting them one by one would leave the CPU mostly idle.
"use strict";
const BATCH = 1024;
const REPORT_EVERY = 4; // batches between progress messages
const encoder = new TextEncoder();

const startsWithZeroBits = (bytes, bits) => {
  let i = 0;
  for (; bits >= 8; bits -= 8, i += 1) {
    if (bytes[i] !== 0) return false;
  }
  return bits === 0 || bytes[i] >> (8 - bits) === 0;
};

self.onmessage = async (event) => {
  const { challenge, bits } = event.data;
  for (let start = 0, round = 1; ; start += BATCH, round += 1) {
    const work = [];
    for (let i = 0; i < BATCH; i += 1) {
      work.push(crypto.subtle.digest("SHA-256", encoder.encode(challenge + (start + i))));
    }
    const digests = await Promise.all(work);
    for (let i = 0; i < BATCH; i += 1) {
      if (startsWithZeroBits(new Uint8Array(digests[i]), bits)) {
        self.postMessage({ counter: start + i });
        return;
      }
    }
    if (round % REPORT_EVERY === 0) self.postMessage({ tried: start + BATCH });
  }
};
