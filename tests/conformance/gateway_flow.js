// Drives a consortium network with the unmodified Node @hyperledger/fabric-gateway client.
// Usage: node gateway_flow.js CONFIG.json — prints one JSON object with what it saw;
// tests/conformance/test_fabric_gateway.py asserts on it.
'use strict';

const fs = require('node:fs');
const crypto = require('node:crypto');
const grpc = require('@grpc/grpc-js');
const {
    connect, signers, hash, checkpointers, EndorseError, CommitError, GatewayError,
} = require('@hyperledger/fabric-gateway');
const { credentialsFor } = require('./client_tls');

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const utf8 = new TextDecoder();

function gatewayFor(org, identityName, tlsOptions) {
    const peer = config.peers[org];
    const identity = config.identities[identityName];
    const client = new grpc.Client(peer.address, credentialsFor(peer, tlsOptions));
    const gateway = connect({
        client,
        identity: { mspId: identity.mspId, credentials: fs.readFileSync(identity.cert) },
        signer: signers.newPrivateKeySigner(crypto.createPrivateKey(fs.readFileSync(identity.key))),
        hash: hash.sha256,
        evaluateOptions: () => ({ deadline: Date.now() + 10000 }),
        endorseOptions: () => ({ deadline: Date.now() + 20000 }),
        submitOptions: () => ({ deadline: Date.now() + 10000 }),
        commitStatusOptions: () => ({ deadline: Date.now() + 30000 }),
    });
    return { client, gateway };
}

async function firstEvents(iterable, count) {
    const seen = [];
    for await (const event of iterable) {
        seen.push(event);
        if (seen.length >= count) break;
    }
    return seen;
}

function errorReport(err) {
    return {
        type: err.constructor.name,
        isEndorseError: err instanceof EndorseError,
        isCommitError: err instanceof CommitError,
        isGatewayError: err instanceof GatewayError,
        code: err.code,
        message: err.message,
        details: (err.details || []).map((d) => ({ address: d.address, mspId: d.mspId, message: d.message })),
    };
}

async function main() {
    const report = {};
    const org1 = gatewayFor('Org1MSP', 'user1');
    const org2 = gatewayFor('Org2MSP', 'user2');
    try {
        const contract1 = org1.gateway.getNetwork(config.channel).getContract(config.chaincode);
        const network2 = org2.gateway.getNetwork(config.channel);
        const contract2 = network2.getContract(config.chaincode);

        // submit, then evaluate through the other organization's gateway
        const created = contract1.newProposal('CreateAsset', { arguments: ['node1', 'yellow', '5', 'Tom', '1300'] });
        const transaction = await created.endorse();
        const submitted = await transaction.submit();
        const createStatus = await submitted.getStatus();
        report.create = { txid: transaction.getTransactionId(), code: createStatus.code, block: Number(createStatus.blockNumber), successful: createStatus.successful };
        report.read = JSON.parse(utf8.decode(await contract2.evaluateTransaction('ReadAsset', 'node1')));

        // submitAsync + getStatus
        const commit = await contract1.submitAsync('TransferAsset', { arguments: ['node1', 'Saptha'] });
        report.transferResult = utf8.decode(commit.getResult());
        const status = await commit.getStatus();
        report.transferStatus = { code: status.code, successful: status.successful, block: Number(status.blockNumber) };

        // chaincode events from the create's block, then resume from a checkpoint
        const events = await network2.getChaincodeEvents(config.chaincode, { startBlock: BigInt(report.create.block) });
        const firstTwo = await firstEvents(events, 2);
        events.close();
        report.events = firstTwo.map((e) => ({ name: e.eventName, txid: e.transactionId, block: Number(e.blockNumber), payload: JSON.parse(utf8.decode(e.payload)) }));
        const checkpointer = checkpointers.inMemory();
        await checkpointer.checkpointChaincodeEvent(firstTwo[0]);
        const resumed = await network2.getChaincodeEvents(config.chaincode, { checkpoint: checkpointer });
        const [afterCheckpoint] = await firstEvents(resumed, 1);
        resumed.close();
        report.resumed = { name: afterCheckpoint.eventName, txid: afterCheckpoint.transactionId };

        // block events (Deliver) from block 0
        const blocks = await network2.getBlockEvents({ startBlock: 0n });
        const firstBlocks = await firstEvents(blocks, 2);
        blocks.close();
        report.blocks = firstBlocks.map((b) => Number(b.getHeader().getNumber()));

        // a conflicting pair of transfers: one VALID, one CommitError MVCC_READ_CONFLICT
        const one = await contract1.newProposal('TransferAsset', { arguments: ['node1', 'Ann'] }).endorse();
        const two = await contract2.newProposal('TransferAsset', { arguments: ['node1', 'Bob'] }).endorse();
        const [s1, s2] = await Promise.all([one.submit(), two.submit()]);
        const statuses = await Promise.all([s1.getStatus(), s2.getStatus()]);
        report.conflict = statuses.map((s) => ({ code: s.code, successful: s.successful }));
        try {
            await Promise.all([
                contract1.submitTransaction('TransferAsset', 'node1', 'Cy'),
                contract2.submitTransaction('TransferAsset', 'node1', 'Di'),
            ]);
            report.conflictError = null;
        } catch (err) {
            report.conflictError = errorReport(err);
        }

        // an identity from an organization the channel does not know
        const stranger = gatewayFor('Org1MSP', 'stranger');
        try {
            await stranger.gateway.getNetwork(config.channel).getContract(config.chaincode)
                .submitTransaction('CreateAsset', 'x', 'red', '1', 'M', '1');
            report.strangerError = null;
        } catch (err) {
            report.strangerError = errorReport(err);
        } finally {
            stranger.gateway.close();
            stranger.client.close();
        }

        // a client that presents no TLS client certificate (createSsl(root) alone)
        const bare = gatewayFor('Org1MSP', 'user1', { withoutClientCert: true });
        try {
            await bare.gateway.getNetwork(config.channel).getContract(config.chaincode)
                .evaluateTransaction('ReadAsset', 'node1');
            report.withoutClientCertError = null;
        } catch (err) {
            report.withoutClientCertError = errorReport(err);
        } finally {
            bare.gateway.close();
            bare.client.close();
        }
        report.mutualTls = Boolean(config.peers.Org1MSP.tlsClientKey);
    } finally {
        org1.gateway.close();
        org1.client.close();
        org2.gateway.close();
        org2.client.close();
    }
    process.stdout.write(JSON.stringify(report) + '\n');
}

main().catch((err) => {
    process.stderr.write(`${err.stack || err}\n${JSON.stringify(errorReport(err))}\n`);
    process.exit(1);
});
