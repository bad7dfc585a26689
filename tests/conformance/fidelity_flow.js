// Where a Fabric client can tell, consortium must answer as Fabric 2.5.12 does: events
// from "now", Deliver past the height, and the shape of every refusal (gRPC code,
// message, ErrorDetails). Drives the network with the unmodified Node
// @hyperledger/fabric-gateway client.
// Usage: node fidelity_flow.js CONFIG.json — prints one JSON object with what it saw;
// tests/conformance/test_fabric_fidelity.py asserts on it.
'use strict';

const fs = require('node:fs');
const crypto = require('node:crypto');
const grpc = require('@grpc/grpc-js');
const { connect, signers, hash } = require('@hyperledger/fabric-gateway');
const { credentialsFor } = require('./client_tls');

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const utf8 = new TextDecoder();
const id = (name) => name + (config.suffix || ''); // a rerun on the same ledger needs new assets
const P256_ORDER = BigInt('0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551');

function privateKeyOf(name) {
    return crypto.createPrivateKey(fs.readFileSync(config.identities[name].key));
}

function derInteger(bytes, offset) {
    const length = bytes[offset + 1];
    const value = BigInt('0x' + Buffer.from(bytes.subarray(offset + 2, offset + 2 + length)).toString('hex'));
    return { value, next: offset + 2 + length };
}

function encodeInteger(value) {
    let hex = value.toString(16);
    if (hex.length % 2) hex = '0' + hex;
    let bytes = Buffer.from(hex, 'hex');
    if (bytes[0] & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
    return Buffer.concat([Buffer.from([0x02, bytes.length]), bytes]);
}

// A valid ECDSA signature in its high-S form (s' = n - s): Fabric refuses it.
function highS(signature) {
    const r = derInteger(signature, 2);
    const s = derInteger(signature, r.next);
    const body = Buffer.concat([encodeInteger(r.value), encodeInteger(P256_ORDER - s.value)]);
    return new Uint8Array(Buffer.concat([Buffer.from([0x30, body.length]), body]));
}

function gatewayFor(org, identityName, signer) {
    const peer = config.peers[org];
    const identity = config.identities[identityName];
    const options = peer.hostnameOverride ? { 'grpc.ssl_target_name_override': peer.hostnameOverride } : {};
    const client = new grpc.Client(peer.address, credentialsFor(peer), options);
    const gateway = connect({
        client,
        identity: { mspId: identity.mspId, credentials: fs.readFileSync(identity.cert) },
        signer: signer || signers.newPrivateKeySigner(privateKeyOf(identityName)),
        hash: hash.sha256,
        evaluateOptions: () => ({ deadline: Date.now() + 10000 }),
        endorseOptions: () => ({ deadline: Date.now() + 20000 }),
        submitOptions: () => ({ deadline: Date.now() + 10000 }),
        commitStatusOptions: () => ({ deadline: Date.now() + 30000 }),
    });
    return {
        client,
        gateway,
        contract: gateway.getNetwork(config.channel).getContract(config.chaincode),
        close() { gateway.close(); client.close(); },
    };
}

function errorReport(err) {
    return {
        type: err.constructor.name,
        code: err.code,
        message: err.cause && typeof err.cause.details === 'string' ? err.cause.details : err.message,
        details: (err.details || []).map((d) => ({ address: d.address, mspId: d.mspId, message: d.message })),
    };
}

async function failure(action) {
    try {
        await action();
        return null;
    } catch (err) {
        return errorReport(err);
    }
}

async function first(iterable) {
    for await (const item of iterable) {
        return item;
    }
    return undefined;
}

// Point 9 and 6: listeners opened with no start block (the next block to commit) and
// at the height see the next block; a start beyond the height is refused at once.
async function eventsFromNow(org1, report) {
    const network = org1.gateway.getNetwork(config.channel);
    const before = await org1.contract.submitAsync('CreateAsset', { arguments: [id('now0'), 'red', '1', 'Ann', '10'] });
    const height = Number((await before.getStatus()).blockNumber) + 1;
    const blocks = await network.getBlockEvents();
    const filtered = await network.getFilteredBlockEvents();
    // fabric-samples' asset-transfer-basic emits no events: `make differential` turns this off
    const withEvents = config.chaincodeEvents !== false;
    const chaincode = withEvents ? await network.getChaincodeEvents(config.chaincode) : undefined;
    const atHeight = await network.getBlockEvents({ startBlock: BigInt(height) });
    const beyond = await network.getBlockEvents({ startBlock: BigInt(height + 5) });
    report.beyondHeight = await failure(() => first(beyond));
    beyond.close();
    const commit = await org1.contract.submitAsync('CreateAsset', { arguments: [id('now1'), 'red', '1', 'Bob', '10'] });
    const status = await commit.getStatus();
    report.now = {
        height,
        txid: commit.getTransactionId(),
        created: utf8.decode(commit.getResult()),
        block: Number(status.blockNumber),
        blockEvent: Number((await first(blocks)).getHeader().getNumber()),
        filteredEvent: Number((await first(filtered)).getNumber()),
        atHeightEvent: Number((await first(atHeight)).getHeader().getNumber()),
    };
    if (chaincode) {
        const event = await first(chaincode);
        report.now.chaincodeEvent = { block: Number(event.blockNumber), txid: event.transactionId };
        chaincode.close();
    }
    for (const listener of [blocks, filtered, atHeight]) listener.close();
}

// Points 3 and 4: refusals the peer raises before simulation, and the chaincode's own.
async function refusals(org1, report) {
    const key1 = privateKeyOf('user1');
    const wrongKey = signers.newPrivateKeySigner(privateKeyOf('user2'));
    const forger = gatewayFor('Org1MSP', 'user1', wrongKey);
    const goodSigner = signers.newPrivateKeySigner(key1);
    const highSigner = gatewayFor('Org1MSP', 'user1', async (digest) => highS(await goodSigner(digest)));
    const stranger = gatewayFor('Org1MSP', 'stranger');
    try {
        report.badSignature = {
            evaluate: await failure(() => forger.contract.evaluateTransaction('ReadAsset', id('now0'))),
            endorse: await failure(() => forger.contract.newProposal('ReadAsset', { arguments: [id('now0')] }).endorse()),
        };
        report.highS = await failure(() => highSigner.contract.evaluateTransaction('ReadAsset', id('now0')));
        report.stranger = await failure(() => stranger.contract.newProposal('ReadAsset', { arguments: [id('now0')] }).endorse());

        const proposal = org1.contract.newProposal('CreateAsset', { arguments: [id('dup1'), 'red', '1', 'Cy', '10'] });
        await (await (await proposal.endorse()).submit()).getStatus();
        report.duplicate = {
            txid: proposal.getTransactionId(),
            evaluate: await failure(() => proposal.evaluate()),
            endorse: await failure(() => proposal.endorse()),
        };
        report.chaincodeError = {
            evaluate: await failure(() => org1.contract.evaluateTransaction('ReadAsset', 'nosuchasset')),
            endorse: await failure(() => org1.contract.newProposal('ReadAsset', { arguments: ['nosuchasset'] }).endorse()),
        };
        const network = org1.gateway.getNetwork(config.channel);
        report.unknownChaincode = await failure(() => network.getContract('nosuchcc').evaluateTransaction('ReadAsset', 'x'));
        report.unknownChannel = await failure(() => org1.gateway.getNetwork('nosuchchannel')
            .getContract(config.chaincode).evaluateTransaction('ReadAsset', 'x'));
        report.noSuchOrg = await failure(() => org1.contract.newProposal('CreateAsset', {
            arguments: ['org1', 'red', '1', 'Di', '10'], endorsingOrganizations: ['NoSuchMSP'],
        }).endorse());
    } finally {
        for (const gateway of [forger, highSigner, stranger]) gateway.close();
    }
}

// Point 5: the orderer refuses a transaction whose signature is not the creator's.
async function ordererRefusal(report) {
    const good = signers.newPrivateKeySigner(privateKeyOf('user1'));
    const wrong = signers.newPrivateKeySigner(privateKeyOf('user2'));
    let calls = 0;
    const signer = async (digest) => (calls++ === 0 ? good(digest) : wrong(digest));
    const gateway = gatewayFor('Org1MSP', 'user1', signer);
    try {
        const transaction = await gateway.contract.newProposal('CreateAsset', { arguments: [id('ord1'), 'red', '1', 'Ed', '10'] }).endorse();
        report.ordererRefusal = await failure(() => transaction.submit());
    } finally {
        gateway.close();
    }
}

// Point 7: every block's metadata slots as each organization's peer serves them.
async function blockMetadata(gateway, count) {
    const blocks = await gateway.gateway.getNetwork(config.channel).getBlockEvents({ startBlock: 0n });
    const seen = [];
    for await (const block of blocks) {
        seen.push(block.getMetadata().getMetadataList_asU8().map((slot) => Buffer.from(slot).toString('hex')));
        if (seen.length >= count) break;
    }
    blocks.close();
    return seen;
}

async function main() {
    const report = {};
    const org1 = gatewayFor('Org1MSP', 'user1');
    try {
        await eventsFromNow(org1, report);
        await refusals(org1, report);
        await ordererRefusal(report);
        const height = report.now.block + 1;
        const org2 = gatewayFor('Org2MSP', 'user2');
        try {
            report.metadata = { Org1MSP: await blockMetadata(org1, height), Org2MSP: await blockMetadata(org2, height) };
        } finally {
            org2.close();
        }
    } finally {
        org1.close();
    }
    process.stdout.write(JSON.stringify(report) + '\n');
}

main().catch((err) => {
    process.stderr.write(`${err.stack || err}\n${JSON.stringify(errorReport(err))}\n`);
    process.exit(1);
});
