// Caliper-style load from the unmodified Node fabric-gateway client: N CreateAsset
// transactions with a fixed number in flight; prints TPS and latency percentiles.
// Usage: node load_gateway.js CONFIG.json TOTAL IN_FLIGHT
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const modules = path.join(__dirname, '..', 'conformance', 'node_modules');
const grpc = require(path.join(modules, '@grpc/grpc-js'));
const { connect, signers, hash } = require(path.join(modules, '@hyperledger/fabric-gateway'));
const { credentialsFor } = require(path.join(__dirname, '..', 'conformance', 'client_tls.js'));

const [configPath, totalArg, inFlightArg] = process.argv.slice(2);
const config = JSON.parse(fs.readFileSync(configPath, 'utf8'));
const total = Number(totalArg);
const inFlight = Number(inFlightArg);

async function main() {
    const peer = config.peers.Org1MSP;
    const identity = config.identities.user1;
    // mutual TLS (the default): the peer's entry names the client's TLS certificate
    const client = new grpc.Client(peer.address, credentialsFor(peer));
    const gateway = connect({
        client,
        identity: { mspId: identity.mspId, credentials: fs.readFileSync(identity.cert) },
        signer: signers.newPrivateKeySigner(crypto.createPrivateKey(fs.readFileSync(identity.key))),
        hash: hash.sha256,
    });
    const contract = gateway.getNetwork(config.channel).getContract(config.chaincode);
    const latencies = [];
    let failures = 0;
    let next = 0;
    const prefix = crypto.randomBytes(4).toString('hex');
    async function worker() {
        while (next < total) {
            const id = `${prefix}-${next++}`;
            const started = process.hrtime.bigint();
            try {
                const commit = await contract.submitAsync('CreateAsset', { arguments: [id, 'blue', '5', 'Tom', '300'] });
                const status = await commit.getStatus();
                if (!status.successful) failures++;
            } catch (err) {
                failures++;
            }
            latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
        }
    }
    const began = process.hrtime.bigint();
    await Promise.all(Array.from({ length: inFlight }, worker));
    const seconds = Number(process.hrtime.bigint() - began) / 1e9;
    latencies.sort((a, b) => a - b);
    const pick = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
    process.stdout.write(JSON.stringify({
        total, inFlight, seconds, tps: total / seconds, failures,
        p50ms: pick(0.5), p99ms: pick(0.99),
    }) + '\n');
    gateway.close();
    client.close();
}

main().catch((err) => { process.stderr.write(`${err.stack || err}\n`); process.exit(1); });
